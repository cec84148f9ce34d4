import { EventEmitter } from 'node:events';
import { RuntimeError } from '../common/errors.js';
import { Coalescer, realTimers } from './coalesce.js';
import { ConfigFiles } from './config-files.js';
import { ConfigWriter } from './config-writer.js';
import { Desired, type SetAside } from './desired.js';
import type { RendererEvents, RendererStatus, SlotView } from './events.js';
import { observe } from './histogram.js';
import { placements, slotViews } from './node-report.js';
import { Pass } from './pass.js';
import { Reconciler } from './reconciler.js';
import { type RendererConfig, type RendererDeps, renderSettings } from './renderer-config.js';
import { SlotTable } from './slots.js';
import { liveSlotViews, newStatus, serving, statusSnapshot } from './status-view.js';
import { StoreSync } from './store-sync.js';
import { type Outcome, WorkQueue } from './work-queue.js';
import { WorkerReader } from './worker-reader.js';

export type * from './events.js';
export type { RendererConfig, RendererDeps } from './renderer-config.js';

/** What the work queue reconciles: membership (and structure), the whole compare, the store's re-list, the config on disk. */
type Key = 'membership' | 'compare' | 'relist' | 'mirror';

/** Retries after a failure (HAProxy unreachable, a reload refused, servers that did not converge): from 250 ms, doubling, to 5 s. */
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5000;

/**
 * The renderer: the store's records in, HAProxy's structure and membership out. Events only say
 * "look again": they queue a key in one work queue, and each key's reconcile reads what it needs,
 * applies the difference and returns when it wants to run again. Membership (after a coalesced
 * batch of changes) is one pass (pass.ts); the whole worker is compared on its own timer, and the
 * config on disk follows a moment later. This file is the loop and its wiring.
 */
export class Renderer extends EventEmitter<RendererEvents> {
  private readonly desired: Desired;
  private readonly slots: SlotTable;
  private readonly sync: StoreSync;
  private readonly operatorSync: StoreSync;
  private readonly reader: WorkerReader;
  private readonly config: ConfigWriter;
  private readonly pass: Pass;
  private readonly queue: WorkQueue<Key>;
  private readonly coalescer: Coalescer;
  private readonly mirrorCoalescer: Coalescer;
  private stopped = false;
  /** Monotonic: every hold, wait and duration. */
  private readonly now: () => number;
  private readonly wall: () => number;
  /** Changes seen in etcd that no converged pass has applied yet: since when, and how they came. */
  private unapplied?: { since: number; kind: 'incremental' | 'full' };
  /** When the whole worker was last compared with the store and found converged (monotonic). */
  private lastFullSyncAt?: number;
  private readonly st: RendererStatus = newStatus();

  constructor(
    private readonly c: RendererConfig,
    private readonly deps: RendererDeps,
  ) {
    super();
    this.now = deps.monotonic ?? (() => performance.now());
    this.wall = deps.wall ?? Date.now;
    this.queue = new WorkQueue<Key>(
      {
        membership: () => this.reconcileMembership(),
        compare: () => this.compare(),
        relist: () => this.relistPeriodically(),
        mirror: async () => (this.stopped ? undefined : this.pass.mirror()),
      },
      { baseDelayMs: RETRY_BASE_MS, maxDelayMs: RETRY_MAX_MS, concurrency: 2, now: this.now, onError: (key, err) => this.pass.refuse('runtime', new RuntimeError(`${key}: ${(err as Error).message}`, { cause: err })) },
    );
    this.desired = new Desired(c, this.now);
    this.desired.on('rejected', (e) => this.emit('rejected', e));
    this.desired.on('operator', (e) => this.emit('operator', e));
    this.desired.on('held', ({ reason, until }) => {
      this.emit('store', { state: 'held', reason });
      this.queue.addAfter('membership', until - this.now() + 10);
    });
    this.desired.on('failStatic', (e) => {
      this.emit('failStatic', e);
      if (e.until !== undefined) this.queue.addAfter('membership', e.until - this.now() + 10);
    });
    this.slots = new SlotTable(c);
    this.reader = new WorkerReader(deps.runtime, deps.haproxy, () => this.slots.all());
    this.config = new ConfigWriter({
      files: new ConfigFiles(c, deps.haproxy, this.now),
      template: deps.template,
      settings: () => renderSettings(c),
      slotOptions: c,
      refusalMemoryMs: 2 * c.reconcileIntervalMs,
      now: this.now,
    });
    // A lone change goes at once; a burst behind it is one more pass (the queue runs one at a time).
    this.coalescer = new Coalescer(c.coalesceMinMs, c.coalesceMaxMs, () => this.queue.add('membership'), realTimers, true);
    // The mirror checks the whole config (seconds at 16,384 slots): it runs beside membership,
    // so membership never waits for it.
    this.mirrorCoalescer = new Coalescer(c.mirrorDelayMs, c.mirrorDelayMs * 5, () => this.queue.add('mirror'));
    this.pass = new Pass({
      desired: this.desired,
      slots: this.slots,
      reader: this.reader,
      reconciler: new Reconciler(deps.runtime, (touched, last) => this.reader.readServers(touched, last)),
      config: this.config,
      template: deps.template,
      settings: () => renderSettings(c),
      leaveMaxMs: c.leaveMaxMs,
      mirrorDelayMs: c.mirrorDelayMs,
      status: this.st,
      events: this,
      mirrorSoon: () => this.mirrorCoalescer.trigger(),
      mirrorDelays: (ms) => this.mirrorCoalescer.setDelays(ms),
      again: () => this.queue.add('membership'),
      now: this.now,
      wall: this.wall,
    });
    this.sync = new StoreSync(deps.store, c.prefix, {
      snapshot: (snap) => {
        this.desired.onSnapshot(snap, new Map([...placements(this.slots.all(), c.prefix)].map(([k, p]) => [k, p.r])));
        this.seen('full');
        this.coalescer.trigger();
      },
      events: (events) => {
        this.desired.onEvents(events);
        this.seen('incremental');
        this.coalescer.trigger();
      },
      report: (e) => {
        this.st.etcd = e.state === 'synced' ? 'connected' : e.state === 'held' ? this.st.etcd : 'unreachable';
        if (e.revision) this.st.revision = e.revision;
        if (e.error) this.st.lastError = e.error.message;
        this.emit('store', e);
      },
    });
    this.operatorSync = new StoreSync(deps.store, c.operatorPrefix, {
      snapshot: (snap) => {
        this.desired.onOperatorSnapshot(snap.kvs);
        this.coalescer.trigger();
      },
      events: (events) => {
        this.desired.onOperatorEvents(events);
        this.coalescer.trigger();
      },
      // The node watch reports etcd's state; this one only its own troubles.
      report: (e) => e.state !== 'synced' && this.emit('store', { ...e, reason: `operator keys: ${e.reason}` }),
    });
  }

  get status(): RendererStatus {
    const { desired, now, wall, lastFullSyncAt } = this;
    return statusSnapshot(this.st, { desired, runtimeCounts: this.deps.runtime.counts, storeUnsyncedMs: this.storeUnsyncedMs(), queue: { depth: this.queue.depth, retries: this.queue.retries }, lastFullSyncAt, now, wall });
  }

  /** Serving what the store says, or able to: what `/health` answers. */
  get healthy(): boolean {
    return this.live && this.storeUnsyncedMs() <= this.c.storeUnsyncedUnhealthyMs;
  }

  /**
   * `healthy` without the store's sync: what the container's health check asks (`/live`). An
   * etcd away for minutes must not get a serving LB restarted (Swarm replaces an unhealthy task,
   * and a new one would come up with nothing to serve): that is what fail static keeps.
   */
  get live(): boolean {
    return serving(this.st, this.desired);
  }

  /** How long the node or the operator keys have been out of sync, ms (monotonic). */
  private storeUnsyncedMs(): number {
    return Math.max(this.sync.unsyncedMs(), this.operatorSync.unsyncedMs());
  }

  /** Every slot of every backend: which node sits where (`/status`). */
  slotViews(): Record<string, SlotView[]> {
    return slotViews(this.slots.all());
  }

  /** `/status`'s backends, with HAProxy's live status, sessions and weight of every slot. */
  slotViewsLive(): Promise<Record<string, SlotView[]>> {
    return liveSlotViews(this.slotViews(), this.deps.statusRuntime ?? this.deps.runtime, this.desired);
  }

  /** Held and quarantined records and why (at most `limit`), with wall-clock deadlines. */
  setAside(limit = 1000): (Omit<SetAside, 'until'> & { until?: string })[] {
    return this.desired.setAside(limit).map(({ until, ...a }) => (until === undefined ? a : { ...a, until: new Date(this.wall() + until - this.now()).toISOString() }));
  }

  /** Lists the nodes again, admitting every record anew (the admission rules changed). */
  relist(reason: string): void {
    this.desired.readmitAll();
    this.sync.resync(reason);
  }

  /** Lists, watches and applies until stopped; retries etcd and HAProxy in the background. */
  start(): void {
    this.sync.resync('start');
    this.operatorSync.resync('start');
    this.queue.addAfter('relist', this.c.resyncIntervalMs);
    this.queue.addAfter('compare', this.c.reconcileIntervalMs);
  }

  /** Stops watching and the queue, and waits for the work under way, at most `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<boolean> {
    this.stopped = true;
    this.coalescer.cancel();
    this.mirrorCoalescer.cancel();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const finished = await Promise.race([(async () => (await this.sync.stop(), await this.operatorSync.stop(), await this.queue.stop(), await this.config.settled(), true))(), late]);
    clearTimeout(timer);
    return finished;
  }

  /** Waits until no reconcile is under way or due (tests and benchmarks). */
  async idle(): Promise<void> {
    for (;;) {
      await this.queue.idle();
      if (!this.coalescer.pending || this.stopped) return;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** Changes came from etcd: the oldest not yet applied dates the next converged pass. */
  private seen(kind: 'incremental' | 'full'): void {
    this.unapplied ??= { since: this.now(), kind };
    if (kind === 'full') this.unapplied.kind = 'full';
  }

  /** Changes a pass could not apply: dated from their own arrival still, with whatever came meanwhile. */
  private putBack(taken: { since: number; kind: 'incremental' | 'full' }): void {
    this.unapplied = { since: taken.since, kind: this.unapplied?.kind === 'full' ? 'full' : taken.kind };
  }

  // ---- the queue's keys ----

  /** The store's periodic re-list (a lost watch event costs a delay, never correctness). */
  private async relistPeriodically(): Promise<Outcome> {
    this.sync.resync('periodic');
    this.operatorSync.resync('periodic');
    return { requeueAfterMs: this.c.resyncIntervalMs };
  }

  /**
   * The whole compare: the next membership pass reads every server and repairs any drift. Never
   * in front of a change: a burst under way gets it in its own pass (within coalesceMaxMs).
   */
  private async compare(): Promise<Outcome> {
    this.reader.readWhole();
    if (!this.coalescer.pending) this.queue.add('membership');
    return { requeueAfterMs: this.c.reconcileIntervalMs };
  }

  /** Membership and structure: one pass over every change seen so far. */
  private async reconcileMembership(): Promise<Outcome> {
    // Nothing is decided before the first full list: an unreachable etcd changes nothing.
    if (!this.desired.synced || this.stopped) return;
    const taking = this.unapplied;
    this.unapplied = undefined;
    const whole = this.reader.wantsWhole;
    const started = this.now();
    const wholeReads = this.reader.wholeReads;
    let out: Outcome;
    try {
      out = await this.pass.membership();
    } finally {
      if (taking && this.st.converged && this.st.structureLive) observe(this.st.changeApplied[taking.kind], (this.now() - taking.since) / 1000);
      else if (taking) this.putBack(taking);
    }
    if (whole && this.st.converged && this.st.structureLive) this.lastFullSyncAt = this.now();
    // A whole pass is the one a change may wait behind: its time is worth seeing (once it read).
    if (this.reader.wholeReads > wholeReads) this.emit('compared', { durationMs: Math.round(this.now() - started), servers: this.reader.last?.servers.length ?? 0, converged: this.st.converged });
    if (out?.retry) this.reader.readWhole();
    // A hold that ends is a change of its own: the pass that applies it is asked for here.
    const expiry = this.desired.nextExpiry;
    if (expiry !== undefined && !out?.retry) {
      const inMs = Math.max(0, expiry - this.now()) + 10;
      if (out?.requeueAfterMs === undefined || inMs < out.requeueAfterMs) return { requeueAfterMs: inMs };
    }
    return out;
  }
}
