// Crash: SIGKILL of a webapp container → HAProxy sends it no new request (its slot leaves UP,
// from a failed connect or check), then its lease expires and the renderer frees the slot.
import type { ComposeStack } from '../../test/helpers/compose.js';
import { clock } from '../machine.js';
import { type Node, slotOf } from './node.js';
import { type SlotWatch, watchSlot } from './slot-watch.js';

export async function crash(stack: ComposeStack, node: Node, ttlSeconds: number): Promise<SlotWatch & { slot: string }> {
  const slot = await slotOf(stack, node.addr);
  const t0 = clock();
  await node.container.kill();
  const w = await watchSlot(stack, slot, node.addr, t0, (ttlSeconds + 10) * 1000);
  if (w.goneMs === undefined) throw new Error(`crash: ${node.hostname}'s slot still in rotation ${ttlSeconds + 10} s after SIGKILL (${JSON.stringify(w.changes)})`);
  return { slot, ...w };
}
