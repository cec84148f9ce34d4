import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { StoreError } from '../common/errors.js';
import type { NodeStore, Snapshot, WatchEvent, WatchHandle } from '../common/store.js';

export interface StoreEvent {
  state: 'synced' | 'broken' | 'unreachable' | 'held';
  reason: string;
  revision?: string;
  keys?: number;
  error?: Error;
}

export interface StoreSyncHandlers {
  /** A full list: the picture starts over from it. */
  snapshot(snap: Snapshot, reason: string): void;
  /** Changes after the snapshot, in revision order. */
  events(events: WatchEvent[]): void;
  report(e: StoreEvent): void;
}

export interface StoreSyncOptions {
  /** Longest wait for a watch to be created, ms: then the attempt fails and is tried again. Default 10000. */
  watchTimeoutMs?: number;
  /** Monotonic clock, ms (intervals only). Default `performance.now`. */
  clock?: () => number;
}

/** The wait after failed attempt `n` (1, 2, ...): from 200 ms doubling to 5 s, drawn from [d/2, d). */
export function retryDelayMs(n: number, random: () => number = Math.random): number {
  const d = Math.min(5000, 200 * 2 ** Math.min(n - 1, 10));
  return d / 2 + (random() * d) / 2;
}

/**
 * The store loop: list at R → watch from R+1; a broken watch, a reconnect or the periodic
 * resync lists again. Retries in the background, forever, with jittered backoff (`retryDelayMs`:
 * at most 5 s apart, never in step with another LB); never clears anything while etcd is away
 * (the last picture keeps serving), and says for how long it has been out of sync (`unsyncedMs`).
 */
export class StoreSync {
  private readonly abort = new AbortController();
  private generation = 0;
  private watch?: WatchHandle;
  private running = false;
  private again = false;
  private readonly watchTimeoutMs: number;
  private readonly clock: () => number;
  /** Since when (monotonic ms) the store has been out of sync: since start, or since the watch went. */
  private lostAt: number;
  connected = false;

  constructor(
    private readonly store: NodeStore,
    private readonly prefix: string,
    private readonly h: StoreSyncHandlers,
    o: StoreSyncOptions = {},
  ) {
    this.watchTimeoutMs = o.watchTimeoutMs ?? 10000;
    this.clock = o.clock ?? (() => performance.now());
    this.lostAt = this.clock();
  }

  /** How long the store has been out of sync (not listed and watching), ms; 0 while in sync. */
  unsyncedMs(): number {
    return this.connected ? 0 : this.clock() - this.lostAt;
  }

  resync(reason: string): void {
    if (this.abort.signal.aborted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.untilSynced(reason).finally(() => {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.resync('retrigger');
      }
    });
  }

  /**
   * Lists and watches until it works or the loop stops. Every failure counts, whatever it is (a
   * TypeError from a library too): the first and every tenth are reported.
   */
  private async untilSynced(reason: string): Promise<void> {
    for (let attempt = 1; !this.abort.signal.aborted; attempt++) {
      try {
        await this.listAndWatch(reason);
        return;
      } catch (err) {
        this.lost();
        const error = err instanceof Error ? err : new StoreError(`${this.prefix}: ${String(err)}`);
        if (attempt === 1 || attempt % 10 === 0) this.h.report({ state: 'unreachable', reason, error });
        await sleep(retryDelayMs(attempt), undefined, { signal: this.abort.signal }).catch(() => undefined);
      }
    }
  }

  /** The watch `creating`, or a StoreError after `watchTimeoutMs` (the watch, if it comes late, is cancelled). */
  private async within(creating: Promise<WatchHandle>): Promise<WatchHandle> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreError(`watching ${this.prefix}: not created within ${this.watchTimeoutMs} ms`)), this.watchTimeoutMs);
    });
    try {
      return await Promise.race([creating, late]);
    } catch (err) {
      creating.then((w) => w.cancel(), () => undefined).catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.generation++;
    await this.watch?.cancel();
  }

  private lost(): void {
    if (!this.connected) return;
    this.connected = false;
    this.lostAt = this.clock();
  }

  private async listAndWatch(reason: string): Promise<void> {
    const gen = ++this.generation;
    const old = this.watch;
    this.watch = undefined;
    this.lost();
    // Not awaited: a cancel may wait for a connection that is gone; the old watch's events are
    // ignored from here on (generation).
    void old?.cancel().catch(() => undefined);
    const snap = await this.store.list(this.prefix);
    if (gen !== this.generation) return;
    // The picture at R before the watch from R+1 can deliver anything.
    this.h.snapshot(snap, reason);
    const watch = await this.within(
      this.store.watch(this.prefix, snap.revision + 1n, {
        events: (events) => {
          if (gen === this.generation) this.h.events(events);
        },
        broken: (error) => {
          if (gen !== this.generation) return;
          this.lost();
          this.h.report({ state: 'broken', reason: 'watch', error });
          this.resync('watch broken');
        },
      }),
    );
    if (gen !== this.generation) {
      await watch.cancel();
      return;
    }
    this.watch = watch;
    this.connected = true;
    this.h.report({ state: 'synced', reason, revision: snap.revision.toString(), keys: snap.kvs.length });
  }
}
