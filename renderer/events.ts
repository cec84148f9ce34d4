import type { HistogramState } from './histogram.js';
import type { LeaseholdError, RecordError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import type { FailStaticEvent, OperatorEvent } from './desired.js';
import type { ReloadResult } from './haproxy.js';
import type { Override } from './operator-view.js';
import type { SlotState } from './slots.js';
import type { StoreEvent } from './store-sync.js';
import type { StructureStage } from './config-files.js';

// The renderer's events and status: what main.ts logs, and /status, /metrics and /events show.

export type { OperatorEvent } from './desired.js';

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

/** Why a reload happened: a service came or went, a pool resized, or the config (template, settings, an unknown running config). */
export type ReloadCause = 'services' | 'pool' | 'config';

export interface ReloadEvent extends ReloadResult {
  cause: ReloadCause;
  structureId: string;
  slots: number;
  bytes: number;
  checkMs: number;
}

export type Stage = 'render' | StructureStage | 'verify' | 'runtime';

export interface RefusedEvent {
  stage: Stage;
  error: LeaseholdError;
}

/** A reconcile that found differences: what it changed, what was drift, what it could not fix. */
export interface ReconciledEvent {
  changed: number;
  drift: number;
  commands: number;
  /** Commands HAProxy answered with an error (first few). */
  refused: { command: string; answer: string }[];
  /** Servers still different after the commands and re-reads. */
  unconverged: number;
  durationMs: number;
}

export interface DriftEvent {
  backend: string;
  server: string;
  node?: string;
  fields: string[];
}

export interface MirrorEvent {
  bytes: number;
  checkMs: number;
}

export interface RendererEvents {
  store: [StoreEvent];
  rejected: [RecordError];
  node: [NodeChange];
  reload: [ReloadEvent];
  refused: [RefusedEvent];
  reconciled: [ReconciledEvent];
  drift: [DriftEvent];
  mirror: [MirrorEvent];
  operator: [OperatorEvent];
  failStatic: [FailStaticEvent];
}

/** One slot as `/status` shows it. */
export interface SlotView {
  slot: string;
  state: SlotState;
  node?: string;
  address?: string;
  port?: number;
  weight?: number;
  /** An operator's drain or weight on this node. */
  operator?: Override;
  /** HAProxy's own view, read when asked. */
  haproxy?: { status: string; sessions: number; weight: number };
}

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

