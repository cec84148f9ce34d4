// The live page's "each LB's view side by side": the CLI's own peer client and comparison
// (cli/renderers.ts, cli/report.ts), so the page and `leasehold status` never disagree on it.
import { readFileSync } from 'node:fs';
import { rendererTlsFromEnv, rendererUrl } from '../cli/args.js';
import { type RendererTls, fetchAll } from '../cli/renderers.js';
import { type RendererReply, buildStatus } from '../cli/report.js';
import { type Env, list } from '../common/env.js';

export interface PageLbs {
  /** The LBs whose views the live page puts side by side (`/ui/lbs`). Env `LEASEHOLD_RENDERERS`, comma-separated. Default none. */
  urls: string[];
  tls?: RendererTls;
}

/**
 * The LBs the live page compares, read as the CLI in the same container reads them (with its
 * certificate); fewer than two: no comparison.
 * @throws OptionError or a file's read error: the page goes without the comparison.
 */
export function pageLbsFromEnv(env: Env): PageLbs | undefined {
  const urls = list(env, 'LEASEHOLD_RENDERERS', []).map(rendererUrl);
  if (urls.length < 2) return undefined;
  const files = rendererTlsFromEnv(env);
  const tls = files && { ca: readFileSync(files.caFile), cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), name: files.name };
  return { urls, ...(tls && { tls }) };
}

export interface LbsView {
  renderers: { lb: string; url: string; reachable: boolean; error?: string; etcd?: string; converged?: boolean; haproxyVersion?: string }[];
  /** Every reachable LB places every node alike (slots may differ). */
  agree: boolean;
  /** Nodes they differ on: how many, and the first `limit` with each LB's view. */
  differ: number;
  nodes: { service: string; id: string; address?: string; port?: number; lbs: { lb: string; slot?: string; state?: string; target?: string; haproxy?: string }[] }[];
}

/** Each LB's summary and the nodes they differ on, from their `/status` answers. */
export function lbsView(replies: RendererReply[], now: number, limit = 500): LbsView {
  const r = buildStatus({ nodes: [], operator: new Map(), renderers: replies, now, etcdError: 'etcd not read' });
  const differ = r.nodes.filter((n) => n.disagree);
  return {
    renderers: r.renderers,
    agree: r.lbsAgree?.agree ?? false,
    differ: differ.length,
    nodes: differ.slice(0, limit).map((n) => ({
      service: n.service,
      id: n.id,
      address: n.address,
      port: n.port,
      lbs: n.lbs.map((v) => ({ lb: v.lb, slot: v.slot, state: v.state, target: v.target, haproxy: v.haproxy?.status })),
    })),
  };
}

/** Asks every LB's peer endpoint now. */
export async function takeLbsView(lbs: PageLbs): Promise<LbsView> {
  return lbsView(await fetchAll(lbs.urls, 3000, lbs.tls), Date.now());
}
