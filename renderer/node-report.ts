import type { NodeRecord } from '../common/record.js';
import type { NodeChange, RendererStatus, SlotView } from './events.js';
import { type Placed, type Pool, servedBy } from './slots.js';

/** A node in a slot. */
export interface Placement {
  r: NodeRecord;
  slot: string;
}

/** Nodes in a slot (ready or draining), by record key (`prefix` + service/id). */
export function placements(pools: Pool[], prefix: string): Map<string, Placement> {
  const out = new Map<string, Placement>();
  for (const p of pools) {
    for (const s of p.slots) {
      const r = servedBy(s);
      if (r) out.set(`${prefix}${p.service}/${r.id}`, { r, slot: s.name });
    }
  }
  return out;
}

/** A node event of a plan (SlotTable.changes) as the renderer reports it. */
export function nodeChange({ change, r, slot }: Placed): NodeChange {
  return { change, service: r.service, id: r.id, address: r.address, port: r.port, weight: r.weight, state: r.state, slot };
}

/** Slots used per pool, and the nodes in them (ready or draining): `/status`'s summary. */
export function slotSummary(pools: Pool[]): { slots: RendererStatus['slots']; nodes: number } {
  let nodes = 0;
  const slots = pools.map((p) => {
    const used = p.slots.filter((s) => s.state !== 'free').length;
    nodes += p.slots.filter((s) => s.state === 'ready' || s.state === 'drain').length;
    return { service: p.service, used, total: p.slots.length };
  });
  return { slots, nodes };
}

/** Every slot of every backend: which node sits where (`/status`). */
export function slotViews(pools: Pool[]): Record<string, SlotView[]> {
  const out: Record<string, SlotView[]> = {};
  for (const p of pools) {
    out[p.service] = p.slots.map((s) => {
      const n = s.state === 'free' ? undefined : s.node;
      return n ? { slot: s.name, state: s.state, node: n.id, address: n.address, port: n.port, weight: n.weight, since: n.registeredAt } : { slot: s.name, state: s.state };
    });
  }
  return out;
}
