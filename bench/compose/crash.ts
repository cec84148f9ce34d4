// Crash: SIGKILL of a webapp container → HAProxy sends it no new request (its slot leaves UP,
// from a failed connect or check), then its lease expires and the renderer frees the slot.
import type { ComposeStack } from '../../harness/compose.js';
import { clock } from '../machine.js';
import type { LogBook } from './logbook.js';
import { type Node, slotOf } from './node.js';
import { type SlotWatch, watchSlot } from './slot-watch.js';

export async function crash(stack: ComposeStack, node: Node, ttlSeconds: number, logs: LogBook): Promise<SlotWatch & { slot: string; haproxySaid?: string }> {
  const slot = await slotOf(stack, node.addr);
  const t0 = clock();
  // Watched from the moment the kill is asked for, not from when Docker's API answers.
  const killed = node.container.kill();
  const w = await watchSlot(stack, slot, node.addr, t0, (ttlSeconds + 10) * 1000);
  await killed;
  if (w.goneMs === undefined) throw new Error(`crash: ${node.hostname}'s slot still in rotation ${ttlSeconds + 10} s after SIGKILL (${JSON.stringify(w.changes)})`);
  // HAProxy's own words: which probe (a request or a health check) found it dead, and how.
  const said = logs.text.find((l) => l.at >= t0 - 1000 && l.line.includes(`webapp/${slot} is DOWN`));
  return { slot, ...w, haproxySaid: said?.line.slice(said.line.indexOf('Server')) };
}
