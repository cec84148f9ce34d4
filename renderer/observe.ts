import type { RuntimeChannel } from './runtime.js';
import { STRUCTURE_VAR, parseServersState, parseStatServers, parseStatSessions, parseVar } from './runtime-state.js';
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

/**
 * Reads back only `touched` servers of a worker read moments ago (`known`): one `show stat` line
 * each, so a change costs what it touched, not the whole table. A server the line cannot vouch
 * for (no id, a DOWN status that hides a drain, HAProxy before 2.4) is taken from `show servers
 * state` of its backend alone. Bits the stat line does not show (config maintenance) are kept.
 * @throws RuntimeError when the admin socket cannot be reached.
 */
export async function observeServers(runtime: Pick<RuntimeChannel, 'run'>, touched: ActualServer[], known: Actual): Promise<Actual> {
  const asked = touched.filter((a) => a.id !== undefined);
  const answers = asked.length ? await runtime.run(asked.map((a) => `show stat ${a.backend} 4 ${a.id}`)) : [];
  // By identity: touched servers are objects of known.servers, and 16,384 keys cost a pass.
  const fresh = new Map<ActualServer, ActualServer>();
  const unsure = touched.filter((a) => a.id === undefined);
  asked.forEach((a, i) => {
    const s = parseStatServers(answers[i] ?? '').get(`${a.backend}/${a.server}`);
    if (!s || s.admin === undefined) unsure.push(a);
    else fresh.set(a, { ...a, address: s.address, port: s.port, weight: s.weight, admin: (a.admin & ~0x3b) | s.admin });
  });
  if (unsure.length) {
    const backends = [...new Set(unsure.map((a) => a.backend))];
    const states = await runtime.run(backends.map((b) => `show servers state ${b}`));
    const byName = new Map(unsure.map((a) => [`${a.backend}/${a.server}`, a]));
    for (const text of states) {
      for (const now of parseServersState(text)) {
        const was = byName.get(`${now.backend}/${now.server}`);
        if (was) fresh.set(was, now);
      }
    }
  }
  const servers = fresh.size ? known.servers.map((a) => fresh.get(a) ?? a) : known.servers;
  return { ...known, servers };
}
