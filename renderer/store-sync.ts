import pRetry from 'p-retry';
import type { NodeStore, Snapshot, WatchEvent, WatchHandle } from './store.js';

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

/**
 * The store loop: list at R → watch from R+1; a broken watch, a reconnect or the periodic
 * resync lists again. Retries in the background until it works; never clears anything while
 * etcd is away (the last picture keeps serving).
 */
export class StoreSync {
  private readonly abort = new AbortController();
  private generation = 0;
  private watch?: WatchHandle;
  private running = false;
  private again = false;
  connected = false;

  constructor(
    private readonly store: NodeStore,
    private readonly prefix: string,
    private readonly h: StoreSyncHandlers,
  ) {}

  resync(reason: string): void {
    if (this.abort.signal.aborted) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    let reported = false;
    pRetry(() => this.listAndWatch(reason), {
      forever: true,
      minTimeout: 200,
      maxTimeout: 5000,
      randomize: true,
      signal: this.abort.signal,
      onFailedAttempt: (error) => {
        this.connected = false;
        if (!reported || error.attemptNumber % 10 === 0) this.h.report({ state: 'unreachable', reason, error });
        reported = true;
      },
    })
      .catch(() => undefined)
      .finally(() => {
        this.running = false;
        if (this.again) {
          this.again = false;
          this.resync('retrigger');
        }
      });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.generation++;
    await this.watch?.cancel();
  }

  private async listAndWatch(reason: string): Promise<void> {
    const gen = ++this.generation;
    const old = this.watch;
    this.watch = undefined;
    await old?.cancel();
    const snap = await this.store.list(this.prefix);
    if (gen !== this.generation) return;
    // The picture at R before the watch from R+1 can deliver anything.
    this.h.snapshot(snap, reason);
    this.watch = await this.store.watch(this.prefix, snap.revision + 1n, {
      events: (events) => {
        if (gen === this.generation) this.h.events(events);
      },
      broken: (error) => {
        if (gen !== this.generation) return;
        this.connected = false;
        this.h.report({ state: 'broken', reason: 'watch', error });
        this.resync('watch broken');
      },
    });
    if (gen !== this.generation) {
      await this.watch?.cancel();
      return;
    }
    this.connected = true;
    this.h.report({ state: 'synced', reason, revision: snap.revision.toString(), keys: snap.kvs.length });
  }
}
