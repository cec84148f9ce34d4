// `leasehold status [service]`: etcd's records, leases and operator keys beside each renderer's slots and HAProxy's state.
import type { Command } from './args.js';
import type { Context } from './context.js';
import { EtcdUnreachableError, exitCodeOf } from './errors.js';
import { formatStatus, formatStatusJson } from './format.js';
import { fetchAll } from './renderers.js';
import { type EtcdNode, buildStatus, readOperator } from './report.js';

/**
 * Prints the status. etcd unreachable: with a renderer reachable, its view is still printed
 * (an outage is when it matters most), then the error and exit 3; with none, the error alone.
 */
export async function status(cmd: Extract<Command, { name: 'status' }>, ctx: Context): Promise<number> {
  const store = ctx.store();
  const fromEtcd = Promise.all([store.nodes(cmd.service), store.operatorKeys()]).then(
    ([nodes, kvs]) => ({ nodes, kvs, error: undefined as unknown }),
    (error: unknown) => ({ nodes: [] as EtcdNode[], kvs: [], error }),
  );
  const [etcd, renderers] = await Promise.all([fromEtcd, fetchAll(cmd.renderers ?? ctx.options.renderers, undefined, ctx.rendererTls)]);
  if (etcd.error && !(etcd.error instanceof EtcdUnreachableError && renderers.some((r) => r.status))) throw etcd.error;
  const report = buildStatus({
    nodes: etcd.nodes,
    operator: readOperator(ctx.options.operatorPrefix, etcd.kvs),
    renderers,
    service: cmd.service,
    now: ctx.now(),
    etcdError: etcd.error ? (etcd.error as Error).message : undefined,
  });
  ctx.out(cmd.json ? formatStatusJson(report) : formatStatus(report, ctx.look));
  if (etcd.error) {
    ctx.err(`leasehold: ${(etcd.error as Error).message}`);
    return exitCodeOf(etcd.error);
  }
  return 0;
}
