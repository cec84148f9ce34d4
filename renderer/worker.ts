import type { RuntimeChannel } from './runtime.js';
import { STRUCTURE_VAR, parseServersState, parseStatSessions, parseVar } from './runtime-state.js';
import type { ActualServer } from './slots.js';

/** What the running worker has, read in one exchange. */
export interface Actual {
  servers: ActualServer[];
  /** `show servers state` as HAProxy printed it (the next worker's state file comes from it). */
  raw: string;
  /** The structure the worker's config declares (`proc.leasehold_structure`), if any. */
  structureId?: string;
  /** Sessions (current + queued) of the servers asked about, by `backend/server`. */
  sessions: Map<string, number>;
}

/** A worker with no config of ours (a bootstrap config without an admin socket). */
export const EMPTY_WORKER: Actual = { servers: [], raw: '', sessions: new Map() };

/**
 * Reads the running worker: its servers, its structure id and the sessions of the backends
 * asked about (those with leaving slots).
 * @throws RuntimeError when the admin socket cannot be reached.
 */
export async function observeWorker(runtime: Pick<RuntimeChannel, 'run'>, sessionsOf: string[]): Promise<Actual> {
  const [state, v, ...stats] = await runtime.run(['show servers state', `get var ${STRUCTURE_VAR}`, ...sessionsOf.map((b) => `show stat ${b} 4 -1`)]);
  const sessions = new Map<string, number>();
  for (const s of stats) for (const [k, n] of parseStatSessions(s!)) sessions.set(k, n);
  return { servers: parseServersState(state!), raw: state!, structureId: parseVar(v!), sessions };
}
