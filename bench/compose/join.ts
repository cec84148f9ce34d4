// Join: `docker start` of a stopped webapp → the first request it serves through the LB, seen by
// a keep-alive polling client (and a fresh-connection one, for comparison). The container's and
// the renderer's log lines say where the time went.
import type { ComposeStack } from '../../harness/compose.js';
import { clock, round } from '../machine.js';
import { type Answer, firstAnswer, startPoller } from '../poller.js';
import { firstAfter, loggedSince } from './container-log.js';
import { probeDns } from './dns-probe.js';
import type { LogBook } from './logbook.js';
import type { Node } from './node.js';

export interface JoinFigures {
  /** ms from `docker start` to the first answer from it, keep-alive poller */
  keepaliveMs: number;
  freshMs?: number;
  /** keepaliveMs less the app's own start (docker start → app listening): leasehold's share */
  afterAppMs?: number;
  /** keepaliveMs less the moment Docker's DNS answered for the name */
  overDnsMs?: number;
  /**
   * ms from `docker start` to: its process running (Docker's StartedAt), Docker's DNS answering
   * for its name, the app listening, the registrar registered, the renderer placing it
   */
  steps: { processStarted?: number; dnsResolved?: number; appListening?: number; registered?: number; placed?: number; startReturned: number };
}

export async function join(stack: ComposeStack, node: Node, logs: LogBook): Promise<JoinFigures> {
  const from = (a: Answer) => a.host === node.hostname;
  const bound = { maxMs: 30000, maxRequests: 20000, until: from };
  const keepalive = startPoller(stack.url, { mode: 'keepalive', gapMs: 2, ...bound });
  const fresh = startPoller(stack.url, { mode: 'fresh', gapMs: 5, ...bound });
  const [ha] = await stack.containers('ha');
  const dns = probeDns(ha!.Id, (await node.container.inspect()).Name.replace(/^\//, ''));
  await Promise.all([keepalive.ready, fresh.ready, dns.ready]);
  const t0 = clock();
  await node.container.start();
  const startReturned = clock() - t0;
  const [ka, fr, resolvedAt] = await Promise.all([keepalive.done, fresh.done, dns.resolved]);
  const startedAt = Date.parse((await node.container.inspect()).State.StartedAt);
  const keepaliveMs = firstAnswer(ka, t0, from);
  if (keepaliveMs === undefined) throw new Error(`join: ${node.hostname} never answered within 30 s`);
  const own = await loggedSince(node.container, t0);
  const ms = (x?: number) => (x === undefined ? undefined : round(x));
  const appListening = firstAfter(own, t0, (e) => e.msg === 'listening');
  const dnsResolved = resolvedAt === undefined ? undefined : resolvedAt - t0;
  return {
    keepaliveMs: round(keepaliveMs),
    freshMs: ms(firstAnswer(fr, t0, from)),
    afterAppMs: ms(appListening === undefined ? undefined : keepaliveMs - appListening),
    overDnsMs: ms(dnsResolved === undefined ? undefined : keepaliveMs - dnsResolved),
    steps: {
      startReturned: round(startReturned),
      processStarted: ms(startedAt - t0),
      dnsResolved: ms(dnsResolved),
      appListening: ms(appListening),
      registered: ms(firstAfter(own, t0, (e) => e.event === 'state' && e.state === 'registered')),
      placed: ms(logs.firstAfter(t0, (e) => e.event === 'node' && e.change === 'joined' && e.id === node.hostname)),
    },
  };
}
