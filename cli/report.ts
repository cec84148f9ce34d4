// What `leasehold status` and `leasehold watch` know, joined from etcd and the renderers. Pure:
// the shell (status.ts, watch.ts) reads; these functions decide what it means.
import { type DrainValue, type OperatorKind, type WeightValue, parseOperatorKey, parseOperatorValue } from '../common/operator.js';
import { type NodeRecord, parseRecordKey, parseRecordValue } from '../common/record.js';
import type { DriftEvent, NodeChange, OperatorEvent, ReloadEvent, ServerStats, StatusBody } from '../common/status.js';

/** One key under the nodes prefix, as read from etcd. */
export interface EtcdNode {
  key: string;
  service: string;
  id: string;
  /** The record, when valid (unknown fields dropped, as the renderer does). */
  record?: NodeRecord;
  /** Why the value is not a usable record. */
  invalid?: string;
  /** Lease id (hex), or undefined for a key on no lease. */
  lease?: string;
  /** Seconds the lease has left; -1 once expired or gone. */
  ttl?: number;
}

/** One node's operator keys. */
export interface OperatorSettings {
  drain?: DrainValue;
  weight?: WeightValue;
  /** Keys whose value the renderer ignores, with the reason. */
  invalid: string[];
}

/** A renderer asked for its `/status`: the answer or why there is none. */
export interface RendererReply {
  url: string;
  /** Partial: a renderer of another version may send fewer fields. */
  status?: Partial<StatusBody>;
  error?: string;
}

export interface LbView {
  /** `LB1`, `LB2`, ... in the order the renderers were given. */
  lb: string;
  renderer: string;
  slot?: string;
  /** The renderer's slot state: ready, drain, leaving. */
  state?: string;
  /** Where this LB sends the node's traffic: `address:port`. */
  target?: string;
  haproxy?: ServerStats;
}

export interface NodeRow {
  service: string;
  id: string;
  address?: string;
  port?: number;
  etcd: {
    registered: boolean;
    /** The registrar's state. */
    state?: NodeRecord['state'];
    invalid?: string;
    lease?: string;
    /** Seconds the lease has left (-1: expired); null: the key has no lease. */
    ttl?: number | null;
    registeredAt?: string;
    ageSeconds?: number;
  };
  operator: {
    drained: boolean;
    drainedAt?: string;
    drainedBy?: string;
    weight?: number;
    weightAt?: string;
    weightBy?: string;
    /** Operator keys of this node the renderer ignores. */
    invalid: string[];
  };
  weight: { registrar?: number; override?: number; effective?: number };
  /** One per reachable renderer, in order; no slot there = no `slot`. */
  lbs: LbView[];
  /** Current sessions, summed over the load balancers. */
  sessions: number;
  /** Reachable load balancers do not agree on the node's HAProxy state. */
  disagree: boolean;
  notes: string[];
}

export interface BackendTotals {
  service: string;
  /** Registered nodes. */
  nodes: number;
  /** Registered, up, not drained. */
  up: number;
  /** Drained by an operator. */
  drained: number;
  /** Draining by their registrar (leaving), not drained by an operator. */
  draining: number;
  sessions: number;
  slots: { lb: string; renderer: string; used: number; total: number }[];
}

export interface StatusReport {
  at: string;
  service?: string;
  /** Whether etcd answered; without it, the rows are the renderers' view only. */
  etcd: { reachable: boolean; error?: string };
  renderers: { lb: string; url: string; reachable: boolean; error?: string; haproxyVersion?: string; etcd?: string; converged?: boolean }[];
  nodes: NodeRow[];
  backends: BackendTotals[];
  /**
   * With two or more load balancers reachable: whether they run the same truth, every node placed
   * on each or on none, in the same HAProxy state. Cookies derive from address and port, so the
   * slot names may differ. Unset with fewer than two.
   */
  lbsAgree?: { agree: boolean; lbs: string[]; differ: string[] };
  notes: string[];
}

/** Parses a value under the nodes prefix leniently: a bad record is still a row, with the reason. */
export function readNode(prefix: string, kv: { key: string; value: string; lease?: string }, ttl?: number): EtcdNode | undefined {
  const k = parseRecordKey(prefix, kv.key);
  if (!k.ok) return undefined;
  const lease = kv.lease && kv.lease !== '0' ? BigInt(kv.lease).toString(16) : undefined;
  const base = { key: kv.key, service: k.service, id: k.id, lease, ttl };
  const v = parseRecordValue(k.service, k.id, kv.value);
  return v.ok ? { ...base, record: v.record } : { ...base, invalid: v.reason };
}

/** Operator keys by `service/id`. */
export function readOperator(prefix: string, kvs: { key: string; value: string }[]): Map<string, OperatorSettings> {
  const out = new Map<string, OperatorSettings>();
  for (const kv of kvs) {
    const k = parseOperatorKey(prefix, kv.key);
    if (!k) continue;
    const node = `${k.service}/${k.id}`;
    const s = out.get(node) ?? { invalid: [] };
    out.set(node, s);
    const v = parseOperatorValue(k.kind, kv.value);
    if (!v.ok) s.invalid.push(`${k.kind}: ${v.reason}`);
    else if (k.kind === 'drain') s.drain = v.value;
    else s.weight = v.value as WeightValue;
  }
  return out;
}

/** `UP 1/3` (a check on its way down) is still UP. */
const first = (status: string) => status.split(' ')[0];

/**
 * Joins etcd's records, the operator keys and each renderer's view into one row per node, plus
 * each backend's totals. `service` keeps that service only.
 */
export function buildStatus(input: {
  nodes: EtcdNode[];
  operator: Map<string, OperatorSettings>;
  renderers: RendererReply[];
  service?: string;
  now: number;
  /** etcd could not be read: `nodes` and `operator` are empty, and that says nothing. */
  etcdError?: string;
}): StatusReport {
  const etcdKnown = input.etcdError === undefined;
  const lbs = input.renderers.map((r, i) => ({ ...r, lb: `LB${i + 1}` }));
  const reachable = lbs.filter((r) => r.status);
  const keep = (service: string) => input.service === undefined || service === input.service;

  const byNode = new Map<string, NodeRow>();
  const row = (service: string, id: string): NodeRow => {
    const k = `${service}/${id}`;
    let r = byNode.get(k);
    if (!r) {
      // Every field named here, so the JSON keeps one order.
      r = { service, id, address: undefined, port: undefined, etcd: { registered: false }, operator: { drained: false, invalid: [] }, weight: {}, lbs: [], sessions: 0, disagree: false, notes: [] };
      byNode.set(k, r);
    }
    return r;
  };

  for (const n of input.nodes) {
    if (!keep(n.service)) continue;
    const r = row(n.service, n.id);
    r.etcd = { registered: true, lease: n.lease, ttl: n.lease ? (n.ttl ?? null) : null };
    if (n.record) {
      Object.assign(r, { address: n.record.address, port: n.record.port });
      r.etcd.state = n.record.state;
      r.etcd.registeredAt = n.record.registeredAt;
      r.etcd.ageSeconds = Math.max(0, Math.floor((input.now - Date.parse(n.record.registeredAt)) / 1000));
      r.weight.registrar = n.record.weight;
    } else {
      r.etcd.invalid = n.invalid;
      r.notes.push(`invalid record: ${n.invalid}`);
    }
    if (!n.lease) r.notes.push('on no lease: the renderer ignores it');
    else if (n.ttl !== undefined && n.ttl < 0) r.notes.push('lease expired');
  }

  for (const [node, s] of input.operator) {
    const [service, id] = node.split('/') as [string, string];
    if (!keep(service)) continue;
    const r = row(service, id);
    if (s.drain) Object.assign(r.operator, { drained: true, drainedAt: s.drain.at, drainedBy: s.drain.by });
    if (s.weight) Object.assign(r.operator, { weight: s.weight.weight, weightAt: s.weight.at, weightBy: s.weight.by });
    r.operator.invalid.push(...s.invalid);
    for (const why of s.invalid) r.notes.push(`operator key ignored (${why})`);
  }

  for (const lb of reachable) {
    for (const [service, slots] of Object.entries(lb.status!.backends ?? {})) {
      if (!keep(service)) continue;
      for (const s of slots) {
        if (!s.node || s.state === 'free') continue;
        const r = row(service, s.node);
        if (r.address === undefined && s.address !== undefined) Object.assign(r, { address: s.address, port: s.port });
        // A node leaving sits in its slot while its sessions finish; a later slot of the same node wins.
        const existing = r.lbs.find((v) => v.lb === lb.lb);
        const view: LbView = { lb: lb.lb, renderer: lb.url, slot: s.slot, state: s.state, haproxy: s.haproxy, ...(s.address !== undefined && { target: `${s.address}:${s.port}` }) };
        if (existing && existing.state !== 'leaving') continue;
        if (existing) r.lbs.splice(r.lbs.indexOf(existing), 1, view);
        else r.lbs.push(view);
      }
    }
  }

  const rows = [...byNode.values()].sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
  for (const r of rows) {
    r.lbs = reachable.map((lb) => r.lbs.find((v) => v.lb === lb.lb) ?? { lb: lb.lb, renderer: lb.url });
    r.sessions = r.lbs.reduce((n, v) => n + (v.haproxy?.sessions ?? 0), 0);
    // Placed by some LBs and not others, at different addresses, or in different HAProxy states
    // (slots may differ: each LB places on its own). A slot still leaving (its keep-alive sessions
    // finishing on one LB while the other freed it at once) is a node on its way out on both.
    const active = r.lbs.filter((v) => v.slot && v.state !== 'leaving');
    const placedBy = active.length;
    r.disagree =
      (placedBy > 0 && placedBy < r.lbs.length) ||
      new Set(active.filter((v) => v.target).map((v) => v.target)).size > 1 ||
      new Set(active.filter((v) => v.haproxy).map((v) => first(v.haproxy!.status))).size > 1;
    r.weight.override = r.operator.weight;
    r.weight.effective = r.operator.weight ?? r.weight.registrar;
    const placed = r.lbs.some((v) => v.slot);
    if (!etcdKnown) {
      // Weights and drains are what the renderer applies: the best there is without etcd.
      const v = r.lbs.find((x) => x.slot);
      const slot = v && lbs.find((l) => l.lb === v.lb)?.status?.backends?.[r.service]?.find((s) => s.slot === v.slot);
      if (slot?.operator?.drained) r.operator.drained = true;
      if (slot?.operator?.weight !== undefined) r.operator.weight = slot.operator.weight;
      if (slot?.weight !== undefined) r.weight.effective = slot.weight;
      r.weight.override = r.operator.weight;
      if (r.disagree) r.notes.push('LBs differ');
      continue;
    }
    if (!r.etcd.registered && placed) r.notes.push(r.lbs.every((v) => !v.slot || v.state === 'leaving') ? 'left etcd: sessions finishing' : 'not in etcd');
    if (!r.etcd.registered && !placed && (r.operator.drained || r.operator.weight !== undefined)) r.notes.push('not registered: an operator key is left (undrain / weight --reset)');
    if (r.etcd.registered && r.etcd.state && reachable.length && !placed) r.notes.push('in no slot (pending, refused or held: see the renderer log)');
    if (r.disagree) r.notes.push('LBs differ');
  }

  const services = new Set(rows.map((r) => r.service));
  for (const lb of reachable) for (const s of Object.keys(lb.status!.backends ?? {})) if (keep(s)) services.add(s);
  const backends = [...services].sort().map((service): BackendTotals => {
    const mine = rows.filter((r) => r.service === service);
    const registered = mine.filter((r) => r.etcd.registered);
    return {
      service,
      nodes: registered.length,
      up: registered.filter((r) => r.etcd.state === 'up' && !r.operator.drained).length,
      drained: mine.filter((r) => r.operator.drained && r.etcd.registered).length,
      draining: registered.filter((r) => r.etcd.state === 'draining' && !r.operator.drained).length,
      sessions: mine.reduce((n, r) => n + r.sessions, 0),
      slots: reachable.flatMap((lb) => {
        const s = lb.status!.slots?.find((x) => x.service === service);
        return s ? [{ lb: lb.lb, renderer: lb.url, used: s.used, total: s.total }] : [];
      }),
    };
  });

  const notes: string[] = [];
  if (!etcdKnown) notes.push(`${input.etcdError}: the load balancers' view only, no etcd states, leases or ages`);
  if (!reachable.length) notes.push(`no renderer reachable (${lbs.map((r) => `${r.url}: ${r.error ?? 'no answer'}`).join('; ')}): what etcd says only, no slots, HAProxy states or sessions`);
  for (const lb of lbs) {
    if (!lb.status) {
      if (reachable.length) notes.push(`${lb.lb} ${lb.url} unreachable: ${lb.error ?? 'no answer'}`);
      continue;
    }
    if (lb.status.etcd && lb.status.etcd !== 'connected') notes.push(`${lb.lb} ${lb.url}: the renderer reports etcd ${lb.status.etcd}`);
    if (lb.status.haproxy && lb.status.haproxy !== 'reachable') notes.push(`${lb.lb} ${lb.url}: the renderer reports HAProxy ${lb.status.haproxy}`);
  }

  return {
    at: new Date(input.now).toISOString(),
    ...(input.service !== undefined && { service: input.service }),
    etcd: etcdKnown ? { reachable: true } : { reachable: false, error: input.etcdError },
    renderers: lbs.map((r) => ({
      lb: r.lb,
      url: r.url,
      reachable: !!r.status,
      ...(r.error !== undefined && { error: r.error }),
      ...(r.status && { haproxyVersion: r.status.haproxyVersion, etcd: r.status.etcd, converged: r.status.converged }),
    })),
    nodes: rows,
    backends,
    ...(reachable.length > 1 && {
      lbsAgree: { agree: !rows.some((r) => r.disagree), lbs: reachable.map((r) => r.lb), differ: rows.filter((r) => r.disagree).map((r) => `${r.service}/${r.id}`) },
    }),
    notes,
  };
}

/** Is the node drained everywhere, with no session left? What `drain --wait` waits for. */
export function drainDone(replies: RendererReply[], service: string, id: string): { done: boolean; progress: string } {
  const parts: string[] = [];
  let done = replies.some((r) => r.status);
  replies.forEach((r, i) => {
    const label = replies.length > 1 ? `LB${i + 1} ` : '';
    if (!r.status) {
      parts.push(`${label}unreachable`);
      done = false;
      return;
    }
    const slots = (r.status.backends?.[service] ?? []).filter((s) => s.node === id && s.state !== 'free');
    if (!slots.length) {
      parts.push(`${label}in no slot`);
      done = false;
      return;
    }
    for (const s of slots) {
      const h = s.haproxy;
      parts.push(`${label}${s.slot} ${h ? `${h.status}, ${h.sessions} session${h.sessions === 1 ? '' : 's'}` : 'no HAProxy state'}`);
      if (!h || !/^DRAIN\b/.test(h.status) || h.sessions !== 0) done = false;
    }
  });
  return { done, progress: parts.join('; ') };
}

/**
 * An event as `leasehold watch` prints it: a renderer's `/events` line (common/status.ts), or one
 * made from an etcd change (`invalid`: a key the renderer would refuse, with `key` and `reason`).
 * Every field optional and others allowed: a renderer of another version may send fewer or more.
 */
export type WatchEvent = { time?: string; event: string; key?: string; reason?: string; [field: string]: unknown } & Loose<NodeChange & DriftEvent & ReloadEvent> & Loose<Omit<OperatorEvent, 'change'>>;

/** Each field optional, and any string where the renderer sends one of a few: what arrives is relayed, not trusted. */
type Loose<T> = { [K in keyof T]?: NonNullable<T[K]> extends string ? string : T[K] };

/**
 * The watch events an etcd change makes, when no renderer is there to say what HAProxy did.
 * `known` holds the values seen so far under both prefixes (the listing, then every change) and
 * is updated: a put of a new node is a join, of a known one a change.
 */
export function etcdChange(
  prefixes: { nodes: string; operator: string },
  known: Map<string, string>,
  e: { type: 'put'; key: string; value: string } | { type: 'delete'; key: string },
  time: string,
): WatchEvent[] {
  const before = known.get(e.key);
  if (e.type === 'put') known.set(e.key, e.value);
  else known.delete(e.key);
  const op = parseOperatorKey(prefixes.operator, e.key);
  if (op) return operatorChange(op, e, time);
  const n = readNode(prefixes.nodes, { key: e.key, value: e.type === 'put' ? e.value : '{}' });
  if (!n) return [];
  const base = { time, event: 'node', service: n.service, id: n.id };
  if (e.type === 'delete') {
    const was = before === undefined ? undefined : readNode(prefixes.nodes, { key: e.key, value: before })?.record;
    return [{ ...base, change: 'left', ...(was && { address: was.address, port: was.port, weight: was.weight, state: was.state }) }];
  }
  if (n.invalid) return [{ time, event: 'invalid', key: e.key, reason: n.invalid }];
  if (before === e.value) return [];
  const r = n.record!;
  return [{ ...base, change: before === undefined ? 'joined' : 'changed', address: r.address, port: r.port, weight: r.weight, state: r.state }];
}

function operatorChange(op: { kind: OperatorKind; service: string; id: string }, e: { type: 'put' | 'delete'; key: string; value?: string }, time: string): WatchEvent[] {
  const base = { time, event: 'operator', service: op.service, id: op.id };
  if (e.type === 'delete') return [{ ...base, change: op.kind === 'drain' ? 'undrained' : 'weight-reset' }];
  const v = parseOperatorValue(op.kind, e.value!);
  if (!v.ok) return [{ time, event: 'invalid', key: e.key, reason: `${op.kind}: ${v.reason}` }];
  return [op.kind === 'drain' ? { ...base, change: 'drained' } : { ...base, change: 'weight', weight: (v.value as WeightValue).weight }];
}
