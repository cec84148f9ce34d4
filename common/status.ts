// The renderer's /status and /events, as it serves them and as `leasehold status` and `watch`
// read them: one declaration for both sides, so a field renamed on one side fails to compile on
// the other.
import type { NodeRecord } from './record.js';

/**
 * - `ready`: a node sits here and takes traffic.
 * - `drain`: a node sits here; only sessions that stick to it by cookie reach it.
 * - `leaving`: its node is gone (lease revoked or expired); no new request reaches it, and the
 *   slot waits for its sessions to end (or a bound) before it can take another node.
 * - `free`: in maintenance, waiting for a node.
 */
export type SlotState = 'ready' | 'drain' | 'leaving' | 'free';

/** An operator's say on one node: drained (no new sessions), and/or a weight over the registrar's. */
export interface Override {
  drained?: boolean;
  weight?: number;
}

/** A server as `show stat` shows it: its status (`UP`, `DRAIN`, `MAINT`...), current sessions and weight. */
export interface ServerStats {
  status: string;
  sessions: number;
  weight: number;
}

/** One slot as `/status` shows it. */
export interface SlotView {
  slot: string;
  state: SlotState;
  node?: string;
  address?: string;
  port?: number;
  weight?: number;
  /** The node's registeredAt: since when it is registered. */
  since?: string;
  /** An operator's drain or weight on this node. */
  operator?: Override;
  /** HAProxy's own view, read when asked. */
  haproxy?: ServerStats;
}

/** A Prometheus histogram's state: counts per upper bound (not cumulative), their sum and count. */
export interface HistogramState {
  le: readonly number[];
  counts: number[];
  sum: number;
  count: number;
}

export interface ReloadResult {
  reloads: number;
  workerPid: number;
  durationMs: number;
}

/** Why a reload happened: a service came or went, a pool resized, or the config (template, settings, an unknown running config). */
export type ReloadCause = 'services' | 'pool' | 'config';

export type StructureStage = 'write' | 'check' | 'reload';

export type Stage = 'render' | StructureStage | 'verify' | 'runtime';

/** What /health, /status and /metrics show. */
export interface RendererStatus {
  etcd: 'starting' | 'connected' | 'unreachable';
  haproxy: 'unknown' | 'reachable' | 'unreachable';
  revision?: string;
  /** Records admitted, and nodes sitting in a slot (ready or draining). */
  records: number;
  nodes: number;
  structureId?: string;
  /** The running worker has the structure the store asks for. */
  structureLive: boolean;
  /** The last reconcile left no difference on servers the worker has. */
  converged: boolean;
  /** Nodes waiting for a structural change (a pool that has not grown yet). */
  pending: number;
  /** A suspicious list is held: the previous nodes keep serving until this time. */
  heldUntil?: string;
  holds: number;
  /** Fail static: nodes lost without a graceful leave and kept for HAProxy's checks to decide. */
  failStaticHeld: number;
  /** Records excluded because `haproxy -c` refused their server line. */
  quarantined: number;
  /** Records left waiting: another node of their service has their address and port (one slot each). */
  duplicates: number;
  lastReconcileAt?: string;
  reloads: Record<ReloadCause, number>;
  refused: Record<Stage, number>;
  runtime: { sent: number; failed: number; retried: number; refusedAnswers: number };
  driftRepaired: number;
  reconcile: { count: number; totalMs: number; lastMs: number };
  /**
   * A change seen in etcd → applied and verified in HAProxy, seconds, by the pass that applied
   * it: `incremental` (changes watched) or `full` (a list: start, a resync, a lost watch).
   */
  changeApplied: Record<'incremental' | 'full', HistogramState>;
  /** The work queue: keys waiting to run, and retries after a failure so far. */
  queue: { depth: number; retries: number };
  /** Seconds since a pass last read the whole worker and found it converged (the whole compare). */
  lastFullSyncAgeSeconds?: number;
  rejectedRecords: number;
  /** Valid records refused because their service is over MAX_NODES_PER_SERVICE, by service. */
  overCap: Record<string, number>;
  /** Seconds the store has been out of sync (not listed and watching); 0 while in sync. */
  storeUnsyncedSeconds: number;
  slots: { service: string; used: number; total: number }[];
  lastError?: string;
}

/** The body of `/status`: the status, HAProxy's version and every slot of every backend. */
export interface StatusBody extends RendererStatus {
  /** Undefined when HAProxy did not say at start. */
  haproxyVersion?: string;
  backends: Record<string, SlotView[]>;
  /** Records served though etcd no longer has them, or kept out though it does, and why (the live page). */
  setAside?: SetAsideView[];
}

/** A held, fail-static or quarantined record as `/status` shows it (`until`: wall clock). */
export interface SetAsideView {
  kind: 'quarantined' | 'fail-static' | 'held';
  service: string;
  id: string;
  address: string;
  port: number;
  why: string;
  until?: string;
}

export interface NodeChange {
  change: 'joined' | 'left' | 'changed';
  service: string;
  id: string;
  address: string;
  port: number;
  weight: number;
  state: NodeRecord['state'];
  /** The server slot it sits (or sat) in. */
  slot: string;
}

/** An operator key (drain, weight) that came, changed or went. */
export interface OperatorEvent {
  change: 'drained' | 'undrained' | 'weight' | 'weight-reset';
  service: string;
  id: string;
  weight?: number;
}

export interface DriftEvent {
  backend: string;
  server: string;
  node?: string;
  fields: string[];
}

export interface ReloadEvent extends ReloadResult {
  cause: ReloadCause;
  structureId: string;
  slots: number;
  bytes: number;
  checkMs: number;
}

/** The renderer events `/events` streams, one JSON object a line. */
export const STREAMED_EVENTS = ['node', 'drift', 'operator', 'reload'] as const;

/** One line of `/events`: the event's name and time, then its fields. */
export type EventLine = { time: string } & (
  | ({ event: 'node' } & NodeChange)
  | ({ event: 'drift' } & DriftEvent)
  | ({ event: 'operator' } & OperatorEvent)
  | ({ event: 'reload' } & ReloadEvent)
);
