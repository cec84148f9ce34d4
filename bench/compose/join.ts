// Join: `docker start` of a stopped webapp → the first request it serves through the LB, seen by
// a keep-alive polling client (and a fresh-connection one, for comparison). The container's and
// the renderer's log lines say where the time went.
import type { ComposeStack } from '../../test/helpers/compose.js';
import { clock, round } from '../machine.js';
import { type Answer, firstAnswer, startPoller } from '../poller.js';
import { firstAfter, loggedSince } from './container-log.js';
import type { LogBook } from './logbook.js';
import type { Node } from './node.js';

export interface JoinFigures {
  /** ms from `docker start` to the first answer from it, keep-alive poller */
  keepaliveMs: number;
  freshMs?: number;
  /** ms from `docker start` to: the app listening, the registrar registered, the renderer placing it */
  steps: { appListening?: number; registered?: number; placed?: number; startReturned: number };
}

export async function join(stack: ComposeStack, node: Node, logs: LogBook): Promise<JoinFigures> {
  const from = (a: Answer) => a.host === node.hostname;
  const bound = { maxMs: 30000, maxRequests: 20000, until: from };
  const keepalive = startPoller(stack.url, { mode: 'keepalive', gapMs: 2, ...bound });
  const fresh = startPoller(stack.url, { mode: 'fresh', gapMs: 5, ...bound });
  await Promise.all([keepalive.ready, fresh.ready]);
  const t0 = clock();
  await node.container.start();
  const startReturned = clock() - t0;
  const [ka, fr] = await Promise.all([keepalive.done, fresh.done]);
  const keepaliveMs = firstAnswer(ka, t0, from);
  if (keepaliveMs === undefined) throw new Error(`join: ${node.hostname} never answered within 30 s`);
  const own = await loggedSince(node.container, t0);
  const ms = (x?: number) => (x === undefined ? undefined : round(x));
  return {
    keepaliveMs: round(keepaliveMs),
    freshMs: ms(firstAnswer(fr, t0, from)),
    steps: {
      startReturned: round(startReturned),
      appListening: ms(firstAfter(own, t0, (e) => e.msg === 'listening')),
      registered: ms(firstAfter(own, t0, (e) => e.event === 'state' && e.state === 'registered')),
      placed: ms(logs.firstAfter(t0, (e) => e.event === 'node' && e.change === 'joined' && e.id === node.hostname)),
    },
  };
}
