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

/** A server whose sessions are asked about (a leaving slot). */
export interface SessionQuery {
  backend: string;
  server: string;
  id?: number;
}

/**
 * Reads the running worker: its servers and structure id (unless `known` is given: a read of the
 * same worker moments ago), and the sessions of the servers asked about, one `show stat` line
 * each, so a leaving slot costs a line, not the whole table.
 * @throws RuntimeError when the admin socket cannot be reached.
 */
export async function observeWorker(runtime: Pick<RuntimeChannel, 'run'>, sessionsOf: SessionQuery[], known?: Actual): Promise<Actual> {
  const stat = sessionsOf.map((q) => (q.id !== undefined ? `show stat ${q.backend} 4 ${q.id}` : `show stat ${q.backend} 4 -1`));
  const head = known ? [] : ['show servers state', `get var ${STRUCTURE_VAR}`];
  const answers = await runtime.run([...head, ...stat]);
  const sessions = new Map<string, number>();
  for (const s of answers.slice(head.length)) for (const [k, n] of parseStatSessions(s!)) sessions.set(k, n);
  if (known) return { ...known, sessions };
  return { servers: parseServersState(answers[0]!), raw: answers[0]!, structureId: parseVar(answers[1]!), sessions };
}
