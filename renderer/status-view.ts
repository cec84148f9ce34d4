import type { ServerStats } from '../common/status.js';
import type { Desired } from './desired.js';
import type { RendererStatus, SlotView } from './events.js';
import { histogram } from './histogram.js';
import type { RuntimeChannel } from './runtime.js';
import { parseStatRows } from './runtime-state.js';

/** The renderer's status before anything happened. */
export function newStatus(): RendererStatus {
  return {
    etcd: 'starting',
    haproxy: 'unknown',
    records: 0,
    nodes: 0,
    structureLive: false,
    converged: false,
    pending: 0,
    holds: 0,
    failStaticHeld: 0,
    quarantined: 0,
    duplicates: 0,
    reloads: { services: 0, pool: 0, config: 0 },
    refused: { render: 0, write: 0, check: 0, reload: 0, verify: 0, runtime: 0 },
    runtime: { sent: 0, failed: 0, retried: 0, refusedAnswers: 0 },
    driftRepaired: 0,
    reconcile: { count: 0, totalMs: 0, lastMs: 0 },
    changeApplied: { incremental: histogram(), full: histogram() },
    queue: { depth: 0, retries: 0 },
    rejectedRecords: 0,
    overCap: {},
    storeUnsyncedSeconds: 0,
    slots: [],
  };
}

/** What `/status` adds to the kept status at the moment it is asked. */
export interface StatusParts {
  desired: Desired;
  runtimeCounts?: RuntimeChannel['counts'];
  storeUnsyncedMs: number;
  queue: { depth: number; retries: number };
  lastFullSyncAt?: number;
  now: () => number;
  wall: () => number;
}

/** A copy of the status, with the counts its parts keep themselves. */
export function statusSnapshot(kept: RendererStatus, p: StatusParts): RendererStatus {
  const s = structuredClone(kept);
  if (p.runtimeCounts) Object.assign(s.runtime, { sent: p.runtimeCounts.sent, failed: p.runtimeCounts.failed, retried: p.runtimeCounts.retried });
  const until = p.desired.heldUntil;
  Object.assign(s, { holds: p.desired.counts.holds, failStaticHeld: p.desired.failStatic.held, quarantined: p.desired.quarantined, rejectedRecords: p.desired.counts.rejected, records: p.desired.counts.admitted });
  s.overCap = Object.fromEntries(p.desired.overCap);
  s.storeUnsyncedSeconds = p.storeUnsyncedMs / 1000;
  s.heldUntil = until !== undefined && until > p.now() ? new Date(p.wall() + until - p.now()).toISOString() : undefined;
  s.queue = p.queue;
  if (p.lastFullSyncAt !== undefined) s.lastFullSyncAgeSeconds = (p.now() - p.lastFullSyncAt) / 1000;
  return s;
}

/**
 * Serving what the store says, or able to, whether or not the store is in sync now: the first
 * full list came, the worker is reachable, runs our structure and every server converged, and
 * admitted records have nodes.
 */
export function serving(s: RendererStatus, desired: Desired): boolean {
  return desired.synced && s.haproxy === 'reachable' && s.structureLive && s.converged && !(desired.counts.admitted > 0 && s.nodes === 0);
}

/** The slots with HAProxy's live status, sessions and weight, and any operator override (`/status`'s backends). */
export async function liveSlotViews(views: Record<string, SlotView[]>, runtime: Pick<RuntimeChannel, 'run'>, desired: Desired): Promise<Record<string, SlotView[]>> {
  let rows: Map<string, ServerStats> | undefined;
  try {
    const [stat] = await runtime.run(['show stat -1 4 -1']);
    rows = parseStatRows(stat!);
  } catch {
    // HAProxy unreachable: the renderer's own view only (status says so).
  }
  for (const [backend, slots] of Object.entries(views)) {
    for (const v of slots) {
      const h = rows?.get(`${backend}/${v.slot}`);
      if (h) v.haproxy = h;
      if (v.node) {
        const o = desired.override(backend, v.node);
        if (o) v.operator = o;
      }
    }
  }
  return views;
}
