import { RuntimeError } from '../common/errors.js';
import type { DesiredServer } from './diff.js';
import type { Haproxy } from './haproxy.js';
import type { RuntimeChannel } from './runtime.js';
import { carryServerState } from './server-state.js';
import type { ActualServer, Pool } from './slots.js';
import { type Actual, EMPTY_WORKER, type SessionQuery, observeServers, observeWorker } from './observe.js';

/** What a read of the worker came to: the worker, or unreachable (with why). */
export type WorkerRead = { ok: true; actual: Actual } | { ok: false; error: RuntimeError };

/**
 * What the renderer knows of the running worker: the last read, and whether the next pass must
 * read it whole. A pass reads whole on the interval and after any trouble; otherwise the last
 * read stands (HAProxy changes only by our commands, each verified by a re-read of what it
 * touched), with fresh sessions of the leaving slots.
 */
export class WorkerReader {
  private lastRead?: Actual;
  /** Whole reads that HAProxy answered. */
  wholeReads = 0;
  private whole = true;
  private answeredOnce = false;

  constructor(
    private readonly runtime: Pick<RuntimeChannel, 'run'>,
    private readonly haproxy: Pick<Haproxy, 'showProc'>,
    /** The pools, for the leaving slots whose sessions each read asks about. */
    private readonly pools: () => Pool[],
  ) {}

  /** The worker as last read (whole, then what reconciles touched). */
  get last(): Actual | undefined {
    return this.lastRead;
  }

  /** Whether the next read will be of the whole worker. */
  get wantsWhole(): boolean {
    return this.whole || !this.lastRead;
  }

  /** The next read is of the whole worker (the compare's interval, a retry). */
  readWhole(): void {
    this.whole = true;
  }

  /**
   * Reads the worker at the start of a pass and after a reload (whole if asked). Before any answer, a missing admin
   * socket with a live master is a config without one (a bootstrap config): an empty worker, to
   * be given a structure.
   */
  async read(whole = this.wantsWhole): Promise<WorkerRead> {
    try {
      let actual: Actual;
      const queries = this.leavingQueries();
      if (whole) {
        actual = this.lastRead = await observeWorker(this.runtime, queries);
        this.wholeReads++;
      } else actual = queries.length ? await observeWorker(this.runtime, queries, this.lastRead) : this.lastRead!;
      this.whole = false;
      this.answeredOnce = true;
      return { ok: true, actual };
    } catch (err) {
      const code = ((err as RuntimeError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (!this.answeredOnce && code === 'ENOENT' && (await this.haproxy.showProc().catch(() => undefined))) return { ok: true, actual: EMPTY_WORKER };
      return { ok: false, error: err as RuntimeError };
    }
  }

  /** Reads back the servers a reconcile touched; `last` stands for the rest. @throws RuntimeError */
  async readServers(touched: ActualServer[], last: Actual): Promise<Actual> {
    this.lastRead = await observeServers(this.runtime, touched, last);
    return this.lastRead;
  }

  /**
   * The servers' state as HAProxy has it now, for the next worker or the file on disk, with the
   * desired servers as they are once it is read (not kept as a read: it may race a pass).
   */
  async serverState(fallback: Actual, desired: () => DesiredServer[]): Promise<string> {
    if (!fallback.raw) return carryServerState(fallback.raw, desired());
    // The text only: parsing 16,384 lines here would hold up the loop for nothing.
    const raw = await this.runtime.run(['show servers state']).then(([a]) => a ?? fallback.raw, () => fallback.raw);
    return carryServerState(raw, desired());
  }

  /** The leaving slots, whose sessions decide when they are free. */
  private leavingQueries(): SessionQuery[] {
    const out: SessionQuery[] = [];
    for (const p of this.pools()) for (const s of p.slots) if (s.state === 'leaving') out.push({ backend: p.service, server: s.name });
    if (!out.length) return out; // every pass asks: no map of every server for nothing
    const ids = new Map(this.lastRead?.servers.map((a) => [`${a.backend}/${a.server}`, a.id]));
    return out.map((q) => ({ ...q, id: ids.get(`${q.backend}/${q.server}`) }));
  }
}
