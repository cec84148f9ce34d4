// HAProxy's own view of one node: its slot's status in the stats CSV, polled every ~5 ms.
import type { ComposeStack } from '../../harness/compose.js';
import { sleep } from '../../harness/wait.js';
import { clock, round } from '../machine.js';

export interface SlotWatch {
  /** ms from t0 to the first poll where HAProxy no longer sends it new requests (not UP). */
  outMs?: number;
  /** ms from t0 to the first poll where the slot is out of rotation (MAINT: the renderer took it out). */
  goneMs?: number;
  /** Every status seen, ms from t0 (`-` = out of rotation). */
  changes: { ms: number; status: string }[];
}

/** UP, or `UP 1/2` (one failed check, still taking requests). */
const up = (s: string | undefined) => s !== undefined && (s === 'UP' || s.startsWith('UP '));

/** Watches `slot` (holding `addr`) from t0 until it is out of rotation or `timeoutMs` passes. */
export async function watchSlot(stack: ComposeStack, slot: string, addr: string, t0: number, timeoutMs: number): Promise<SlotWatch> {
  const w: SlotWatch = { changes: [] };
  let last: string | null = null;
  while (clock() - t0 < timeoutMs) {
    let status: string | undefined;
    try {
      status = await stack.slotStatus(slot, addr);
    } catch {
      await sleep(5);
      continue;
    }
    const ms = round(clock() - t0);
    const shown = status ?? '-';
    if (shown !== last) w.changes.push({ ms, status: shown });
    last = shown;
    if (w.outMs === undefined && !up(status)) w.outMs = ms;
    if (status === undefined) {
      w.goneMs = ms;
      return w;
    }
    await sleep(5);
  }
  return w;
}
