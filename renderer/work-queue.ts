import { realTimers, type Timers } from './coalesce.js';

/** What a handler asks for next: nothing, a run after `requeueAfterMs`, or (as a throw) a retry with back-off. */
export type Outcome = void | { requeueAfterMs?: number; retry?: boolean };

export interface WorkQueueOptions<K extends string = string> {
  /** First retry delay after a failure, ms; doubles per consecutive failure of that key. */
  baseDelayMs: number;
  /** Longest retry delay before jitter, ms. */
  maxDelayMs: number;
  /** Share of a retry delay that is random (0..1): delay * (1 - jitter/2 + jitter*random()). Default 0.2. */
  jitter?: number;
  /** Handlers running at once, each on a different key. Default 1 (keys in the order queued). */
  concurrency?: number;
  /** Default: Node's timers. */
  timers?: Timers;
  /** Monotonic time, ms, to tell which of two timed adds is due first. Default performance.now. */
  now?: () => number;
  /** Default Math.random. */
  random?: () => number;
  /** Called when a handler throws (after which the key is retried with back-off). */
  onError?: (key: K, err: unknown) => void;
}

/**
 * Keys to reconcile, after controller-runtime's workqueue: a key is queued once, never runs beside itself,
 * runs once more if added while it runs, and retries with back-off. A handler returns when to run again.
 */
export class WorkQueue<K extends string> {
  /** Queued keys in FIFO order, including a running key added again. */
  private readonly queued = new Set<K>();
  private readonly running = new Map<K, Promise<void>>();
  private readonly timed = new Map<K, { at: number; handle: unknown }>();
  private readonly failures = new Map<K, number>();
  /** Who waits for idle(), and for idle({ timed: true }). */
  private readonly idlers: (() => void)[] = [];
  private readonly timedIdlers: (() => void)[] = [];
  private readonly timers: Timers;
  private readonly now: () => number;
  private stopped = false;
  private retried = 0;

  constructor(
    private readonly handlers: Record<K, (key: K) => Promise<Outcome>>,
    private readonly options: WorkQueueOptions<K>,
  ) {
    this.timers = options.timers ?? realTimers;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Queues key now: a key queued twice runs once, a key added while it runs runs once more after.
   * It supersedes a timed add of the key, a retry's too (whose back-off stays until a success).
   */
  add(key: K): void {
    if (this.stopped) return;
    this.cancelTimed(key);
    this.queued.add(key);
    // Not at once: adds in one tick (a burst of events) make one run, and no handler starts inside add().
    queueMicrotask(() => this.pump());
  }

  /** Queues key after `ms`; if the key is queued or has an earlier timed add, the earlier wins. */
  addAfter(key: K, ms: number): void {
    if (this.stopped || this.queued.has(key)) return;
    const at = this.now() + ms;
    if ((this.timed.get(key)?.at ?? Infinity) <= at) return;
    this.cancelTimed(key);
    const handle = this.timers.setTimeout(() => this.add(key), ms);
    this.timed.set(key, { at, handle });
  }

  /** Keys queued and not yet running (a running key added again counts: it is due once more). */
  get depth(): number {
    return this.queued.size;
  }

  /** Retries owed after a failure or `retry: true`, in total (a key already queued owes its retry to that run). */
  get retries(): number {
    return this.retried;
  }

  /** Whether key is queued, running, or due by a timer. */
  pending(key: K): boolean {
    return this.queued.has(key) || this.running.has(key) || this.timed.has(key);
  }

  /** Resolves once nothing is queued or running (timed adds not counted unless `{ timed: true }`). */
  idle(options: { timed?: boolean } = {}): Promise<void> {
    const waiting = new Promise<void>((resolve) => (options.timed ? this.timedIdlers : this.idlers).push(resolve));
    this.wakeIdlers();
    return waiting;
  }

  /** Cancels timers and queued keys, then waits for handlers under way (false if `timeoutMs` passes first). */
  stop(timeoutMs?: number): Promise<boolean> {
    this.stopped = true;
    for (const key of [...this.timed.keys()]) this.cancelTimed(key);
    this.queued.clear();
    this.wakeIdlers();
    const done = Promise.all(this.running.values()).then(() => true);
    if (timeoutMs === undefined) return done;
    let handle: unknown;
    const late = new Promise<boolean>((r) => (handle = this.timers.setTimeout(() => r(false), timeoutMs)));
    return Promise.race([done, late]).finally(() => this.timers.clearTimeout(handle));
  }

  private cancelTimed(key: K): void {
    this.timers.clearTimeout(this.timed.get(key)?.handle);
    this.timed.delete(key);
  }

  private pump(): void {
    while (this.running.size < (this.options.concurrency ?? 1)) {
      const key = [...this.queued].find((k) => !this.running.has(k));
      if (key === undefined) return;
      this.queued.delete(key);
      // done() runs a tick later, even when a handler throws at once: after the key is marked running.
      this.running.set(key, this.call(key).then((out) => this.done(key, out)));
    }
  }

  /** Never rejects: whatever the handler (or onError) does, the queue goes on. */
  private async call(key: K): Promise<Outcome> {
    try {
      return await this.handlers[key](key);
    } catch (err) {
      try {
        this.options.onError?.(key, err);
      } catch {
        // A reporter that throws must not stop the key's retries.
      }
      return { retry: true };
    }
  }

  private done(key: K, out: Outcome): void {
    this.running.delete(key);
    // As controller-runtime: a requeue wins over a retry, and anything but a retry ends the back-off.
    if (out?.requeueAfterMs === undefined && out?.retry) this.retry(key);
    else {
      this.failures.delete(key);
      if (out?.requeueAfterMs !== undefined) this.addAfter(key, out.requeueAfterMs);
    }
    this.pump();
    this.wakeIdlers();
  }

  private retry(key: K): void {
    const { baseDelayMs, maxDelayMs, jitter = 0.2, random = Math.random } = this.options;
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    this.retried++;
    const delay = Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1));
    this.addAfter(key, delay * (1 - jitter / 2 + jitter * random()));
  }

  private wakeIdlers(): void {
    if (this.queued.size || this.running.size) return;
    for (const resolve of this.idlers.splice(0)) resolve();
    if (!this.timed.size) for (const resolve of this.timedIdlers.splice(0)) resolve();
  }
}
