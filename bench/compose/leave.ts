// Graceful leave: `docker stop` (SIGTERM) → HAProxy sends the node no new request. HAProxy's view
// (its slot leaves UP in the stats CSV) is the figure; a keep-alive polling client's view (the
// last request that reached the node) is the cross-check.
import { clock, round } from '../machine.js';
import { lastReached, startPoller } from '../poller.js';
import type { ComposeStack } from '../../harness/compose.js';
import { firstAfter, loggedSince } from './container-log.js';
import type { LogBook } from './logbook.js';
import { type Node, slotOf } from './node.js';
import { type SlotWatch, watchSlot } from './slot-watch.js';

export interface LeaveFigures extends SlotWatch {
  slot: string;
  /** ms from `docker stop` to the first request sent after the last one the node answered. */
  clientMs?: number;
  /** `docker stop` returned (drain 3 s and exit). */
  stopMs: number;
  /** ms from `docker stop` to: the registrar's SIGTERM, its lease revoked, the renderer's `node left` */
  steps: { sigterm?: number; revoked?: number; removed?: number };
}

export async function leave(stack: ComposeStack, node: Node, logs: LogBook): Promise<LeaveFigures> {
  const slot = await slotOf(stack, node.addr);
  const poller = startPoller(stack.url, { mode: 'keepalive', gapMs: 2, maxMs: 30000, maxRequests: 15000 });
  await poller.ready;
  const t0 = clock();
  const stopped = node.container.stop({ t: 30 }).then(() => clock() - t0);
  const w = await watchSlot(stack, slot, node.addr, t0, 15000);
  const answers = await poller.stop();
  const stopMs = await stopped;
  if (w.outMs === undefined) throw new Error(`leave: ${node.hostname} still UP 15 s after docker stop (${JSON.stringify(w.changes)})`);
  const own = await loggedSince(node.container, t0);
  const ms = (x?: number) => (x === undefined ? undefined : round(x));
  const state = (s: string) => (e: Record<string, any>) => e.event === 'state' && e.state === s;
  return {
    slot,
    ...w,
    clientMs: round(lastReached(answers, t0, (a) => a.host === node.hostname) ?? NaN),
    stopMs: round(stopMs),
    steps: {
      sigterm: ms(firstAfter(own, t0, state('leaving'))),
      revoked: ms(firstAfter(own, t0, state('stopped'))),
      removed: ms(logs.firstAfter(t0, (e) => e.event === 'node' && e.change === 'left' && e.id === node.hostname)),
    },
  };
}
