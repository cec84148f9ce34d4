import type { NodeRecord } from '../common/record.js';
import type { SlotState } from '../common/status.js';
import { canonicalIp } from '../common/address.js';

export type { SlotState } from '../common/status.js';

export interface Slot {
  /** HAProxy server name in the backend: `s1`, `s2`, ... */
  readonly name: string;
  state: SlotState;
  /** The node in the slot (ready, drain) or the one that left it (leaving). */
  node?: NodeRecord;
  /** When the slot began leaving, ms. */
  leavingSince?: number;
}

/** One backend's servers: its pool of slots. */
export interface Pool {
  service: string;
  slots: Slot[];
  /** Since when the pool has been at most a quarter used (shrink candidate), ms. */
  lowSince?: number;
  /** A worker has run this pool: removing it then costs a reload, so it goes lazily. */
  live?: boolean;
}

/** A node that joined, left or changed (address, port, weight, state or tag) in a slot, at a plan. */
export interface Placed {
  change: 'joined' | 'left' | 'changed';
  r: NodeRecord;
  slot: string;
}

/** The structure a config is rendered for: the services and their pool sizes. */
export interface Structure {
  services: { name: string; slots: number }[];
}

export interface SlotOptions {
  /** Service whose backend exists even with no node. */
  defaultService: string;
  /** More services whose backends always exist (the ROUTES targets). */
  services?: string[];
  /** Smallest pool. */
  minSlots: number;
  /** Largest pool: HAProxy takes a file descriptor per slot. Nodes beyond it wait, counted in `unplaced`. */
  maxSlots?: number;
  /** A pool at most a quarter used for this long shrinks (and an empty service goes) at the next pass. */
  shrinkAfterMs: number;
}

/** A server as HAProxy's runtime reports it (`show servers state`). */
export interface ActualServer {
  backend: string;
  server: string;
  /** HAProxy's numeric server id (`show stat <backend> 4 <id>` asks about this one alone). */
  id?: number;
  address: string;
  port: number;
  /** srv_admin_state bits. */
  admin: number;
  weight: number;
}

/** The node a slot serves: in rotation or draining (a leaving slot's node has gone). */
export const servedBy = (s: Slot): NodeRecord | undefined => (s.state === 'ready' || s.state === 'drain' ? s.node : undefined);

export const slotName = (i: number) => `s${i + 1}`;
const slotIndex = (name: string) => (/^s[1-9][0-9]*$/.test(name) ? Number(name.slice(1)) - 1 : -1);
const nextPow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
/**
 * The size a full pool grows to. Small pools quadruple in powers of two (2 → 1,000 nodes one by
 * one is 3 reloads); past 1,024 they grow by half, in steps of 1,024, with a quarter of headroom
 * over what is needed: each slot costs HAProxy a file descriptor, and checking a config takes
 * time that grows faster than its servers.
 */
export function grownSize(size: number, needed: number): number {
  const want = Math.max(size < 1024 ? size * 4 : Math.ceil(size * 1.5), needed <= 1024 ? nextPow2(needed) : needed * 1.25);
  return want <= 1024 ? nextPow2(want) : Math.ceil(want / 1024) * 1024;
}

/**
 * Which node sits in which server slot of which backend. Pure: records and time in, slots out.
 * A node keeps its slot for as long as it is registered (and gets it back if it returns while
 * its slot is still leaving); a new node takes the lowest free slot; a pool that is full grows
 * geometrically (a structural change, so a reload); a pool that stays at most a quarter used
 * shrinks lazily.
 */
export class SlotTable {
  private readonly pools = new Map<string, Pool>();
  /** Nodes the last plan could not place (their pool is at `maxSlots`). */
  unplaced = 0;
  /** Records left out at the last plan: another node of their service has their address and port. */
  duplicates = 0;
  /**
   * What the last plan changed, by service and slot, the leavers first: its node events, taken as
   * it goes rather than by comparing every placement before and after (linear in the pool).
   */
  changes: Placed[] = [];

  constructor(private readonly o: SlotOptions) {}

  /** Services and pool sizes, sorted: what the structure of the config depends on. */
  structure(): Structure {
    return { services: [...this.pools.values()].map((p) => ({ name: p.service, slots: p.slots.length })).sort((a, b) => cmp(a.name, b.name)) };
  }

  pool(service: string): Pool | undefined {
    return this.pools.get(service);
  }

  /** Every pool, sorted by service. */
  all(): Pool[] {
    return [...this.pools.values()].sort((a, b) => cmp(a.service, b.service));
  }

  /**
   * Takes over the assignments HAProxy already runs (a renderer restart): a slot whose address
   * and port are a registered node's keeps that node. Pool sizes are kept when they follow the
   * slot naming, so an unchanged structure needs no reload.
   */
  adopt(actual: ActualServer[], records: NodeRecord[], now: number): void {
    const byAddr = new Map<string, NodeRecord>();
    for (const r of records) byAddr.set(`${r.service}|${canonicalIp(r.address)}|${r.port}`, r);
    const servers = new Map<string, ActualServer[]>();
    for (const s of actual) servers.set(s.backend, [...(servers.get(s.backend) ?? []), s]);
    const taken = new Set<string>();
    for (const [backend, list] of servers) {
      const indexes = list.map((s) => slotIndex(s.server));
      if (indexes.some((i) => i < 0) || new Set(indexes).size !== indexes.length) continue;
      const size = Math.max(...indexes) + 1;
      const pool = this.ensure(backend, size);
      pool.live = true;
      // Servers in rotation first, so a stale copy in maintenance never wins.
      for (const s of [...list].sort((a, b) => Number(inMaint(a.admin)) - Number(inMaint(b.admin)))) {
        const slot = pool.slots[slotIndex(s.server)]!;
        const r = byAddr.get(`${backend}|${canonicalIp(s.address)}|${s.port}`);
        if (r && !taken.has(`${r.service}/${r.id}`)) {
          taken.add(`${r.service}/${r.id}`);
          slot.node = r;
          slot.state = r.state === 'draining' ? 'drain' : 'ready';
        } else if ((s.admin & 0x01) === 0) {
          // In rotation for a node that is gone: it leaves, its sessions counted like any other.
          slot.state = 'leaving';
          slot.leavingSince = now;
        }
      }
    }
  }

  /**
   * Brings the slots in line with the registered records. Returns true when the structure
   * (services or pool sizes) changed.
   */
  plan(records: NodeRecord[], now: number): boolean {
    const before = JSON.stringify(this.structure());
    const byService = new Map<string, Map<string, NodeRecord>>([this.o.defaultService, ...(this.o.services ?? [])].map((x) => [x, new Map()]));
    this.unplaced = 0;
    for (const r of records) {
      const m = byService.get(r.service) ?? new Map<string, NodeRecord>();
      m.set(r.id, r);
      byService.set(r.service, m);
    }
    this.duplicates = 0;
    this.changes = [];
    for (const [service, nodes] of byService) {
      const kept = oneEach(nodes, this.pools.get(service));
      this.duplicates += nodes.size - kept.size;
      this.planPool(this.ensure(service, this.o.minSlots), kept, now);
    }
    for (const pool of this.pools.values()) {
      if (!byService.has(pool.service)) this.planPool(pool, new Map(), now);
    }
    this.collect(now);
    const rank = (c: Placed) => (c.change === 'left' ? 0 : 1);
    this.changes.sort((a, b) => rank(a) - rank(b) || cmp(a.r.service, b.r.service) || slotIndex(a.slot) - slotIndex(b.slot));
    return JSON.stringify(this.structure()) !== before;
  }

  /** A leaving slot whose sessions ended (or that waited long enough) can take a node again. */
  free(service: string, slot: string): void {
    const s = this.pools.get(service)?.slots[slotIndex(slot)];
    if (s?.state !== 'leaving') return;
    s.state = 'free';
    s.node = undefined;
    s.leavingSince = undefined;
  }

  /** A reload started a new worker: sessions of leaving slots stay with the old one. */
  reloaded(): void {
    for (const p of this.pools.values()) for (const s of p.slots) if (s.state === 'leaving') this.free(p.service, s.name);
    this.live();
  }

  /** The running worker has every pool (after a reload, or when adopted). */
  live(): void {
    for (const p of this.pools.values()) p.live = true;
  }

  private ensure(service: string, size: number): Pool {
    let p = this.pools.get(service);
    if (!p) {
      p = { service, slots: [] };
      this.pools.set(service, p);
    }
    this.resize(p, Math.max(size, this.o.minSlots));
    return p;
  }

  private resize(p: Pool, size: number): void {
    while (p.slots.length < size) p.slots.push({ name: slotName(p.slots.length), state: 'free' });
  }

  private planPool(pool: Pool, nodes: Map<string, NodeRecord>, now: number): void {
    const placed = new Set<string>();
    const put = (s: Slot, r: NodeRecord) => {
      const was = servedBy(s);
      if (!was || was.id !== r.id) this.changes.push({ change: 'joined', r, slot: s.name });
      else if (was.address !== r.address || was.port !== r.port || was.weight !== r.weight || was.state !== r.state || was.tag !== r.tag) this.changes.push({ change: 'changed', r, slot: s.name });
      placed.add(r.id);
      s.node = r;
      s.state = r.state === 'draining' ? 'drain' : 'ready';
      s.leavingSince = undefined;
    };
    for (const s of pool.slots) {
      const r = s.node && nodes.get(s.node.id);
      if (r && !placed.has(r.id)) {
        // Still registered, or back while its slot was leaving: it keeps (or gets back) its slot.
        put(s, r);
      } else if (s.state === 'ready' || s.state === 'drain') {
        // A second slot of a node placed already is no node leaving.
        if (s.node && !placed.has(s.node.id)) this.changes.push({ change: 'left', r: s.node, slot: s.name });
        s.state = 'leaving';
        s.leavingSince = now;
      }
    }
    // A node at the endpoint a leaving slot points at takes that slot (a hold ending, a node
    // registered again under another id): HAProxy keeps the server UP, where a fresh slot would
    // wait for its first check with nothing else to serve.
    const leavingAt = new Map(pool.slots.filter((s) => s.state === 'leaving' && s.node).map((s) => [endpoint(s.node!), s]));
    // Most passes have no leaving slot: no endpoint worked out again for every node then.
    for (const r of leavingAt.size ? nodes.values() : []) {
      const s = !placed.has(r.id) && leavingAt.get(endpoint(r));
      if (!s) continue;
      leavingAt.delete(endpoint(r));
      put(s, r);
    }
    const waiting = [...nodes.values()].filter((r) => !placed.has(r.id)).sort((a, b) => cmp(a.id, b.id));
    let free = pool.slots.filter((s) => s.state === 'free').length;
    if (waiting.length > free) {
      // A rolling replacement must not grow the pool: the oldest leavers give up their slots
      // first (their sessions go on; only new requests go to the newcomer).
      const leavers = pool.slots.filter((s) => s.state === 'leaving').sort((a, b) => (a.leavingSince ?? 0) - (b.leavingSince ?? 0));
      for (const s of leavers.slice(0, waiting.length - free)) this.free(pool.service, s.name);
      free = pool.slots.filter((s) => s.state === 'free').length;
    }
    if (waiting.length > free) {
      const size = grownSize(pool.slots.length, placed.size + waiting.length);
      this.resize(pool, Math.min(size, Math.max(this.o.maxSlots ?? Infinity, pool.slots.length)));
    }
    let i = 0;
    for (const r of waiting) {
      while (i < pool.slots.length && pool.slots[i]!.state !== 'free') i++;
      if (i === pool.slots.length) {
        this.unplaced++;
        continue;
      }
      put(pool.slots[i]!, r);
    }
  }

  /** Lazy shrinking: pools long at most a quarter used halve, empty services go. */
  private collect(now: number): void {
    for (const p of [...this.pools.values()]) {
      const used = p.slots.filter((s) => s.state !== 'free').length;
      const shrinkable = p.slots.length > this.o.minSlots && used * 4 <= p.slots.length;
      const empty = used === 0 && p.service !== this.o.defaultService && !this.o.services?.includes(p.service);
      if (!shrinkable && !empty) {
        p.lowSince = undefined;
        continue;
      }
      p.lowSince ??= now;
      // A service no worker ever ran goes at once: keeping it would only keep a refusal alive.
      if (empty && !p.live) {
        this.pools.delete(p.service);
        continue;
      }
      if (now - p.lowSince < this.o.shrinkAfterMs) continue;
      if (empty) {
        this.pools.delete(p.service);
        continue;
      }
      // Keep the leavers' sessions countable: shrink only below every slot still in use.
      const target = Math.max(this.o.minSlots, nextPow2(used * 2));
      const kept = p.slots.filter((s) => s.state !== 'free');
      const slots: Slot[] = Array.from({ length: target }, (_, i) => ({ name: slotName(i), state: 'free' }));
      // Nodes keep their slot when it survives, and move to the lowest free one otherwise.
      const movers: Slot[] = [];
      for (const s of kept) {
        const i = slotIndex(s.name);
        if (i < target) slots[i] = { ...s };
        else movers.push(s);
      }
      for (const s of movers) {
        if (s.state === 'leaving') continue; // a new worker starts without its sessions
        const j = slots.findIndex((x) => x.state === 'free');
        slots[j] = { ...s, name: slotName(j) };
      }
      p.slots = slots;
      p.lowSince = undefined;
      // This plan's events name the slots the nodes are in now.
      const moved = new Map(slots.flatMap((x) => (servedBy(x) ? [[servedBy(x)!.id, x.name] as const] : [])));
      for (const c of this.changes) if (c.r.service === p.service && c.change !== 'left') c.slot = moved.get(c.r.id) ?? c.slot;
    }
  }
}

/** Any maintenance bit: forced (CLI), inherited, or failed resolution. */
export const inMaint = (admin: number) => (admin & 0x23) !== 0;
/** Any drain bit: forced (CLI) or inherited. */
export const inDrain = (admin: number) => (admin & 0x18) !== 0;

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** `address|port`, the address canonical (only IPv6 has spellings to canonicalize). */
const endpoint = (r: NodeRecord) => `${r.address.includes(':') ? canonicalIp(r.address) : r.address}|${r.port}`;

/**
 * One node per address and port in a backend. Two servers at one endpoint get equal dynamic
 * cookies, and `haproxy -c` warns once per such pair: a service writing thousands of records of
 * one endpoint made its output too big to read, and every structural change was refused. The
 * node in a slot already keeps it; else the first registered (then the lowest id). The others
 * wait: when the kept one goes, the next plan places one of them (traffic went to that endpoint
 * all along).
 */
function oneEach(nodes: Map<string, NodeRecord>, pool: Pool | undefined): Map<string, NodeRecord> {
  let inSlot: Set<string> | undefined;
  const best = new Map<string, NodeRecord>();
  for (const r of nodes.values()) {
    const k = endpoint(r);
    const b = best.get(k);
    if (!b) best.set(k, r);
    else if (first(r, b, (inSlot ??= new Set(pool?.slots.flatMap((s) => servedBy(s)?.id ?? []))))) best.set(k, r);
  }
  if (best.size === nodes.size) return nodes;
  return new Map([...best.values()].map((r) => [r.id, r]));
}

function first(r: NodeRecord, b: NodeRecord, inSlot: Set<string>): boolean {
  if (inSlot.has(r.id) !== inSlot.has(b.id)) return inSlot.has(r.id);
  if (r.registeredAt !== b.registeredAt) return r.registeredAt < b.registeredAt;
  return r.id < b.id;
}
