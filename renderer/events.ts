import type { LeaseholdError, RecordError } from '../common/errors.js';
import type { DriftEvent, NodeChange, OperatorEvent, ReloadEvent, Stage } from '../common/status.js';
import type { FailStaticEvent } from './desired.js';
import type { StoreEvent } from './store-sync.js';

// The renderer's own events, what main.ts logs. Those /status and /events show, and the status
// itself, are common/status.ts's (the CLI reads them).

export type { DriftEvent, NodeChange, OperatorEvent, ReloadCause, ReloadEvent, RendererStatus, SlotView, Stage } from '../common/status.js';

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

export interface MirrorEvent {
  bytes: number;
  checkMs: number;
}

/** A pass that read the whole worker (the compare's interval, a retry, the first): how long it took, read included. */
export interface ComparedEvent {
  durationMs: number;
  /** Servers the worker runs. */
  servers: number;
  converged: boolean;
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
  compared: [ComparedEvent];
  operator: [OperatorEvent];
  failStatic: [FailStaticEvent];
}
