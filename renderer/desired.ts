import { EventEmitter } from 'node:events';
import type { AdmissionRules } from '../common/admission.js';
import { RecordError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import type { OperatorEvent, SetAsideView } from '../common/status.js';
import type { KV, Snapshot, WatchEvent } from '../common/store.js';
import { NodeView } from './node-view.js';
import { OperatorView, type Override } from './operator-view.js';

export type { OperatorEvent } from '../common/status.js';

export interface DesiredEvents {
  rejected: [RecordError];
  operator: [OperatorEvent];
  /** A suspicious list is held until `until` (ms). */
  held: [{ reason: string; until: number }];
  /** Nodes that vanished without a graceful leave, kept in HAProxy (its checks decide) until `until`. */
  failStatic: [FailStaticEvent];
}

export interface FailStaticEvent {
  change: 'held' | 'released' | 'returned';
  service: string;
  ids: string[];
  reason: string;
  until?: number;
}

export interface DesiredOptions {
  prefix: string;
  operatorPrefix: string;
  admission: AdmissionRules;
  /** How long a suspicious list is held, ms. */
  holdMs: number;
  /**
   * Fail static: nodes of a service that vanish without a graceful leave (expiry, delete) while
   * that takes more than this share of the service within `failStaticWindowMs` are held.
   */
  failStaticShare: number;
  failStaticWindowMs: number;
  /** How long such a node is held at most, ms; HAProxy's checks decide its traffic meanwhile. */
  failStaticMaxMs: number;
  /** Records served per service at most; the excess is refused and reported. */
  maxNodesPerService: number;
}

/**
 * What the store asks for: the admitted records, with operator drains and weights over them,
 * minus quarantined ones, plus the nodes held through a suspicious list. Reports rejections
 * (once per key and reason), unknown fields (once) and operator changes as events.
 */
/** A record the renderer serves though etcd no longer has it, or keeps out though etcd does (`until`: this clock, ms). */
export type SetAside = Omit<SetAsideView, 'until'> & { until?: number };

export class Desired extends EventEmitter<DesiredEvents> {
  private readonly view: NodeView;
  private readonly operators: OperatorView;
  private lastSnapshot?: { clusterId?: string; revision: bigint };
  private readmit = false;
  /** While a suspicious list is held: the nodes served before it, by key. */
  private held?: { until: number; records: Map<string, NodeRecord>; why: string };
  /** Records `haproxy -c` refused, by key, with the exact record refused. */
  private readonly quarantine = new Map<string, string>();
  private readonly rejections = new Map<string, string>();
  private readonly unknownReported = new Set<string>();
  /** Records refused over the per-service cap, by service, as last reported. */
  private capped = new Map<string, number>();
  /** Operator overrides as last applied, by `service/id`, to report what changed. */
  private lastOverrides = new Map<string, string>();
  /** Fail static: the registrars' records the last `records()` served (before overrides and holds), by key. */
  private served = new Map<string, NodeRecord>();
  /** Keys whose record said `leaving` (a graceful leave): their deletion is applied at once. */
  private readonly leavers = new Set<string>();
  /** Unannounced losses per service within the window: key → when (this clock). */
  private readonly losses = new Map<string, Map<string, number>>();
  /** Nodes held by fail static: their last record and until when. */
  private readonly failHeld = new Map<string, { record: NodeRecord; until: number }>();
  /** A full list has arrived: before it nothing is decided. */
  synced = false;
  readonly counts = { holds: 0, rejected: 0, admitted: 0 };

  constructor(
    private readonly o: DesiredOptions,
    /** Monotonic ms (holds). */
    private readonly now: () => number,
  ) {
    super();
    this.view = new NodeView(o.prefix, o.admission, o.maxNodesPerService);
    this.operators = new OperatorView(o.operatorPrefix);
  }

  get heldUntil(): number | undefined {
    return this.held?.until;
  }

  get quarantined(): number {
    return this.quarantine.size;
  }

  /** When the next hold or fail-static hold ends (monotonic ms): a pass is due then. */
  get nextExpiry(): number | undefined {
    let next = this.held?.until;
    for (const h of this.failHeld.values()) if (next === undefined || h.until < next) next = h.until;
    return next;
  }

  /** Nodes held by fail static now. */
  get failStatic(): { held: number } {
    return { held: this.failHeld.size };
  }

  /** Valid records refused because their service is over `maxNodesPerService`, by service. */
  get overCap(): ReadonlyMap<string, number> {
    return this.capped;
  }

  /**
   * A full list. One that comes from another etcd (cluster id), goes back in time (revision) or
   * would take most of the nodes `served` away at once is held: those keep serving for `holdMs`
   * while registrars re-register; then the list applies as it is by then.
   */
  onSnapshot(snap: Snapshot, served: Map<string, NodeRecord>): void {
    const prev = this.lastSnapshot;
    this.lastSnapshot = { clusterId: snap.clusterId, revision: snap.revision };
    // Only nodes whose keys were there before count as gone: one served only by a hold or by fail
    // static is gone already, and counting it would renew the hold at every re-list for ever.
    const registered = new Map([...served].filter(([k]) => this.view.has(k)));
    // Keys unchanged since the last list are not admitted again, unless the rules changed or
    // another etcd (or the same one gone back) answers, where a revision may hold another value.
    const sameEtcd = prev !== undefined && prev.clusterId === snap.clusterId && snap.revision >= prev.revision;
    this.view.reset(snap.kvs, sameEtcd && !this.readmit);
    this.readmit = false;
    this.synced = true;
    let why: string | undefined;
    if (prev?.clusterId && snap.clusterId && prev.clusterId !== snap.clusterId) why = `etcd's cluster id changed (${prev.clusterId} → ${snap.clusterId})`;
    else if (prev && snap.revision < prev.revision) why = `etcd's revision went backwards (${prev.revision} → ${snap.revision})`;
    else why = mostGone(registered, this.view.evaluate().records);
    if (why) this.hold(why, served);
  }

  /** The admission rules changed: the next list admits every record anew. */
  readmitAll(): void {
    this.readmit = true;
  }

  onEvents(events: WatchEvent[]): void {
    // One at a time: a graceful leave's `leaving` put and its deletion often come in one batch.
    for (const e of events) {
      // The newest revision seen, not only the last list's: a wipe long after a list still shows.
      if (e.revision && this.lastSnapshot && BigInt(e.revision) > this.lastSnapshot.revision) this.lastSnapshot.revision = BigInt(e.revision);
      if (e.type === 'delete' && this.view.get(e.key)?.state === 'leaving') this.leave(e.key);
      this.view.apply([e]);
      if (e.type === 'put' && this.view.get(e.key)?.state === 'leaving') this.leave(e.key);
    }
  }

  /** A graceful leave: applied at once, and a hold in force does not bring the node back. */
  private leave(key: string): void {
    this.leavers.add(key);
    this.held?.records.delete(key);
  }

  onOperatorSnapshot(kvs: KV[]): void {
    this.operators.reset(kvs);
  }

  onOperatorEvents(events: WatchEvent[]): void {
    this.operators.apply(events);
  }

  /** Keeps `served` serving for `holdMs` whatever the lists say. */
  hold(why: string, served: Map<string, NodeRecord>): void {
    const until = this.now() + this.o.holdMs;
    this.held = { until, records: new Map(served), why };
    this.counts.holds++;
    this.emit('held', { reason: `${why}: the previous ${served.size} nodes keep serving for ${this.o.holdMs} ms while registrars re-register`, until });
  }

  /** Keeps these records out until they change (their server line is refused). */
  quarantineRecords(records: NodeRecord[]): void {
    for (const r of records) {
      const key = `${this.o.prefix}${r.service}/${r.id}`;
      // The registrar's record as admitted, not `r` with an operator's drain or weight over it:
      // `records()` compares before overrides, and would judge it again at every pass.
      this.quarantine.set(key, JSON.stringify(this.view.get(key) ?? r));
      this.emit('rejected', new RecordError(key, `quarantined: haproxy -c refuses its server line (${r.address}:${r.port}); everything else is applied`));
    }
  }

  /**
   * Records served against what etcd says or kept out of HAProxy, and why (the live page), at
   * most `limit` of them. `until` is on this clock.
   */
  setAside(limit: number): SetAside[] {
    const out: SetAside[] = [];
    const add = (kind: SetAside['kind'], r: NodeRecord, why: string, until?: number) => {
      if (out.length < limit) out.push({ kind, service: r.service, id: r.id, address: r.address, port: r.port, why, ...(until !== undefined && { until }) });
    };
    for (const q of this.quarantine.values()) add('quarantined', JSON.parse(q) as NodeRecord, 'haproxy -c refuses its server line');
    for (const { record, until } of this.failHeld.values()) add('fail-static', record, 'vanished without a graceful leave with much of its service: HAProxy\'s checks decide', until);
    if (this.held) for (const [k, r] of this.held.records) if (!this.view.has(k)) add('held', r, this.held.why, this.held.until);
    return out;
  }

  /** The operator's say on one node. */
  override(service: string, id: string): Override | undefined {
    return this.operators.get(service, id);
  }

  /** The admitted records by key, before quarantine, holds and overrides (for adoption). */
  admitted(): Map<string, NodeRecord> {
    return this.view.evaluate().records;
  }

  /** The records to serve now, reporting what is new among rejections and operator changes. */
  records(): NodeRecord[] {
    const ev = this.view.evaluate();
    this.report([...ev.rejected, ...this.operators.rejected()], ev.unknownFields);
    this.reportCap(ev.overCap);
    this.counts.admitted = ev.records.size;
    const out = new Map<string, NodeRecord>();
    for (const [k, r] of ev.records) {
      const q = this.quarantine.get(k);
      if (q !== undefined) {
        if (q === JSON.stringify(r)) continue;
        this.quarantine.delete(k); // changed since: judged again
      }
      out.set(k, r);
    }
    for (const [k, r] of out) {
      // A graceful leave: out of rotation at once, and its deletion is no failure.
      if (r.state === 'leaving') {
        this.leave(k);
        out.delete(k);
      } else this.leavers.delete(k);
    }
    const kept = this.failStaticPass(out);
    for (const k of this.leavers) if (!ev.records.has(k)) this.leavers.delete(k);
    if (this.held && this.now() >= this.held.until) this.held = undefined;
    // A key there again but refused (its address no longer admissible) is not brought back.
    if (this.held) for (const [k, r] of this.held.records) if (!out.has(k) && !this.failHeld.has(k) && !this.view.has(k)) kept.push(r);
    return this.withOverrides([...out.values(), ...kept]);
  }

  /**
   * Fail static: returns the records held besides `out`. A served key deleted without a graceful leave is a loss (a key
   * still there but refused is a rejection, applied at once). When a service's distinct losses
   * within the window are more than its share of (alive + lost), or it would have no node left,
   * every node lost in this pass is held: served still, HAProxy's checks decide, until it comes
   * back or `failStaticMaxMs` passes (0: fail static off). O(changes + services) per pass.
   */
  private failStaticPass(out: Map<string, NodeRecord>): NodeRecord[] {
    const now = this.now();
    const events: FailStaticEvent[] = [];
    const group = (change: FailStaticEvent['change'], list: NodeRecord[], reason: string, until?: number) => {
      const by = new Map<string, string[]>();
      for (const r of list) {
        const ids = by.get(r.service);
        if (ids) ids.push(r.id);
        else by.set(r.service, [r.id]);
      }
      for (const [service, ids] of by) events.push({ change, service, ids, reason, ...(until !== undefined && { until }) });
    };
    const returned: NodeRecord[] = [];
    const released: NodeRecord[] = [];
    for (const [k, h] of this.failHeld) {
      if (out.has(k) || this.leavers.has(k) || this.view.has(k)) {
        // Back (or there again, refused or leaving): no longer ours to keep.
        this.failHeld.delete(k);
        returned.push(h.record);
      } else if (now >= h.until) {
        this.failHeld.delete(k);
        released.push(h.record);
      }
    }
    const lost = new Map<string, [string, NodeRecord][]>();
    for (const [k, r] of this.served) {
      if (out.has(k) || this.failHeld.has(k)) continue;
      if (this.leavers.delete(k)) continue; // left gracefully: gone at once
      if (this.view.has(k)) continue; // there, but refused or quarantined: not a disappearance
      const list = lost.get(r.service);
      if (list) list.push([k, r]);
      else lost.set(r.service, [[k, r]]);
    }
    const held: NodeRecord[] = [];
    if (lost.size && this.o.failStaticMaxMs > 0) {
      const alive = new Map<string, number>();
      for (const r of out.values()) alive.set(r.service, (alive.get(r.service) ?? 0) + 1);
      const heldBefore = new Map<string, number>();
      for (const h of this.failHeld.values()) heldBefore.set(h.record.service, (heldBefore.get(h.record.service) ?? 0) + 1);
      for (const [service, nodes] of lost) {
        const window = this.losses.get(service) ?? new Map<string, number>();
        for (const [k, t] of window) if (now - t >= this.o.failStaticWindowMs) window.delete(k);
        for (const [k] of nodes) window.set(k, now);
        this.losses.set(service, window);
        const a = alive.get(service) ?? 0;
        const over = window.size > this.o.failStaticShare * (a + window.size) || a + (heldBefore.get(service) ?? 0) === 0;
        if (!over) continue;
        for (const [k, r] of nodes) {
          this.failHeld.set(k, { record: r, until: now + this.o.failStaticMaxMs });
          held.push(r);
        }
      }
    }
    // A key that came back is no loss of its service's window any more.
    for (const [service, window] of this.losses) {
      for (const k of window.keys()) if (out.has(k)) window.delete(k);
      if (!window.size) this.losses.delete(service);
    }
    // `out` itself, not a copy: what the next pass compares with (held nodes are not in it).
    this.served = out;
    group('held', held, `vanished without a graceful leave while more than ${Math.round(this.o.failStaticShare * 100)}% of the service did within ${this.o.failStaticWindowMs} ms (or it had no other node): kept for HAProxy's checks to decide, up to ${this.o.failStaticMaxMs} ms`, now + this.o.failStaticMaxMs);
    group('returned', returned, 'registered again (or left gracefully): no longer held');
    group('released', released, `held ${this.o.failStaticMaxMs} ms without coming back: removed`);
    for (const e of events) this.emit('failStatic', e);
    return [...this.failHeld.values()].map((h) => h.record);
  }

  /** Operator drains and weights over the registrars' records; reports what changed. */
  private withOverrides(records: NodeRecord[]): NodeRecord[] {
    const now = new Map([...this.operators.all()].map(([k, o]) => [k, JSON.stringify(o)]));
    for (const node of new Set([...now.keys(), ...this.lastOverrides.keys()])) {
      const before: Override = JSON.parse(this.lastOverrides.get(node) ?? '{}');
      const after: Override = JSON.parse(now.get(node) ?? '{}');
      const [service, id] = node.split('/') as [string, string];
      if (!before.drained && after.drained) this.emit('operator', { change: 'drained', service, id });
      if (before.drained && !after.drained) this.emit('operator', { change: 'undrained', service, id });
      if (after.weight !== undefined && after.weight !== before.weight) this.emit('operator', { change: 'weight', service, id, weight: after.weight });
      if (before.weight !== undefined && after.weight === undefined) this.emit('operator', { change: 'weight-reset', service, id });
    }
    this.lastOverrides = now;
    return records.map((r) => {
      const o = this.operators.get(r.service, r.id);
      return o ? { ...r, ...(o.drained && { state: 'draining' as const }), ...(o.weight !== undefined && { weight: o.weight }) } : r;
    });
  }

  /** One line per service when the number refused over the cap changes (not one per key). */
  private reportCap(overCap: Map<string, number>): void {
    for (const [service, n] of overCap) {
      if (this.capped.get(service) === n) continue;
      const cap = this.o.maxNodesPerService;
      this.emit('rejected', new RecordError(`${this.o.prefix}${service}/`, `${n} node(s) over MAX_NODES_PER_SERVICE (${cap}) refused: the first ${cap} registered keep serving`));
    }
    this.capped = overCap;
  }

  private report(rejected: RecordError[], unknown: Map<string, string[]>): void {
    const now = new Map(rejected.map((e) => [e.key, e.reason]));
    for (const e of rejected) if (this.rejections.get(e.key) !== e.reason) this.emit('rejected', e);
    this.rejections.clear();
    for (const [k, v] of now) this.rejections.set(k, v);
    this.counts.rejected = rejected.length;
    for (const [key, fields] of unknown) {
      // Once per key and set of fields: a newer registrar's fields are news once.
      const id = `${key} ${fields.join(',')}`;
      if (this.unknownReported.has(id)) continue;
      if (this.unknownReported.size > 10000) this.unknownReported.clear();
      this.unknownReported.add(id);
      this.emit('rejected', new RecordError(key, `unknown fields ignored: ${fields.join(', ')} (a newer registrar?)`));
    }
  }
}

function mostGone(served: Map<string, NodeRecord>, records: Map<string, NodeRecord>): string | undefined {
  if (served.size < 2) return undefined;
  const kept = [...served.keys()].filter((k) => records.has(k)).length;
  return kept * 2 < served.size ? `${served.size - kept} of ${served.size} nodes gone at once` : undefined;
}
