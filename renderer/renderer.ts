import { EventEmitter } from 'node:events';
import type { AdmissionRules } from '../common/admission.js';
import { type LeaseholdError, ReloadError, RuntimeError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import type { ServerStats } from '../common/status.js';
import type { NodeStore } from '../common/store.js';
import { Coalescer, realTimers } from './coalesce.js';
import { type ConfigOutcome, ConfigWriter } from './config-writer.js';
import { Desired, type SetAside } from './desired.js';
import type { ReloadCause, RendererEvents, RendererStatus, SlotView, Stage } from './events.js';
import type { Haproxy } from './haproxy.js';
import { histogram, observe } from './histogram.js';
import { Reconciler } from './reconciler.js';
import { nodeChange, placements, slotSummary, slotViews } from './node-report.js';
import { desiredServers } from './diff.js';
import { type RenderSettings, type Template, structureId } from './render.js';
import type { RuntimeChannel } from './runtime.js';
import { parseStatRows } from './runtime-state.js';
import { carryServerState } from './server-state.js';
import { type ActualServer, type SlotOptions, SlotTable, type Structure } from './slots.js';
import { StoreSync } from './store-sync.js';
import { ConfigFiles } from './config-files.js';
import { type Outcome, WorkQueue } from './work-queue.js';
import { type Actual, EMPTY_WORKER, type SessionQuery, observeServers, observeWorker } from './observe.js';

export type * from './events.js';

export interface RendererConfig extends RenderSettings, Omit<SlotOptions, 'services'> {
  prefix: string;
  /** Where operator keys live (drains, weights). */
  operatorPrefix: string;
  configPath: string;
  coalesceMinMs: number;
  coalesceMaxMs: number;
  resyncIntervalMs: number;
  reconcileIntervalMs: number;
  /** Longest a leaving slot waits for its sessions before it may take another node, ms. */
  leaveMaxMs: number;
  /** Quiet time before the config on disk follows membership changes, ms (at least 10 checks' time). */
  mirrorDelayMs: number;
  /** How long a suspicious list (another etcd, an older revision, most nodes gone) is held, ms. */
  holdMs: number;
  /** Fail static (desired.ts): the share of a service, the window and the longest hold of nodes lost without a graceful leave. */
  failStaticShare: number;
  failStaticWindowMs: number;
  failStaticMaxMs: number;
  /** Services that always have a backend: the default one and the ROUTES targets. */
  services: string[];
  /** What records must satisfy to reach HAProxy. */
  admission: AdmissionRules;
  /** Records served per service at most; the excess is refused and reported. */
  maxNodesPerService: number;
  /** `/health` is unhealthy once the store has been out of sync (not listed and watching) this long, ms. */
  storeUnsyncedUnhealthyMs: number;
}

export interface RendererDeps {
  store: NodeStore;
  haproxy: Pick<Haproxy, 'check' | 'reload' | 'showProc'>;
  runtime: Pick<RuntimeChannel, 'run'> & { counts?: RuntimeChannel['counts'] };
  /** Where `/status` reads HAProxy's stats, apart from membership's commands. Default `runtime`. */
  statusRuntime?: Pick<RuntimeChannel, 'run'>;
  template: Template;
  /** Milliseconds on a clock that never steps, for holds, timers and durations. Default performance.now(). */
  monotonic?: () => number;
  /** Milliseconds since the epoch, only for the times `/status` shows. Default Date.now(). */
  wall?: () => number;
}

/** What the work queue reconciles: membership (and structure), the whole compare, the store's re-list, the config on disk. */
type Key = 'membership' | 'compare' | 'relist' | 'mirror';

/** Retries after a failure (HAProxy unreachable, a reload refused, servers that did not converge): from 250 ms, doubling, to 5 s. */
const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5000;
/** How often a pass looks again at leaving slots whose sessions may have ended, ms. */
const LEAVING_RECHECK_MS = 500;

/**
 * The renderer: the store's records in, HAProxy's structure and membership out. Events only say
 * "look again": they queue a key in one work queue, and each key's reconcile reads what it needs,
 * applies the difference and returns when it wants to run again. Membership (after a coalesced
 * batch of changes) places the admitted records in slots, reloads only if the structure changed,
 * and sets the worker's servers through the runtime API, reading back only what it touched; the
 * whole worker is compared on its own timer, and the config on disk follows a moment later.
 */
export class Renderer extends EventEmitter<RendererEvents> {
  private readonly desired: Desired;
  private readonly slots: SlotTable;
  private readonly sync: StoreSync;
  private readonly operatorSync: StoreSync;
  private readonly reconciler: Reconciler;
  private readonly config: ConfigWriter;
  private readonly queue: WorkQueue<Key>;
  private readonly coalescer: Coalescer;
  private readonly mirrorCoalescer: Coalescer;
  private stopped = false;
  /** Monotonic: every hold, wait and duration. */
  private readonly now: () => number;
  private readonly wall: () => number;
  private observedOnce = false;
  private adopted = false;
  /** The worker as last read, and whether the next pass must read it whole again. */
  private lastActual?: Actual;
  private fullRead = true;
  /** Changes seen in etcd that no converged pass has applied yet: since when, and how they came. */
  private unapplied?: { since: number; kind: 'incremental' | 'full' };
  private liveStructure?: Structure;
  /** The records the last pass served (the mirror's quarantine search starts from them). */
  private lastRecords: NodeRecord[] = [];
  /** When the whole worker was last compared with the store and found converged (monotonic). */
  private lastFullSyncAt?: number;
  private readonly st: RendererStatus = {
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
        mirror: () => this.mirror(),
      },
      { baseDelayMs: RETRY_BASE_MS, maxDelayMs: RETRY_MAX_MS, concurrency: 2, now: this.now, onError: (key, err) => this.refuse('runtime', new RuntimeError(`${key}: ${(err as Error).message}`, { cause: err })) },
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
    this.reconciler = new Reconciler(deps.runtime, (touched, last) => this.readServers(touched, last));
    this.config = new ConfigWriter({
      files: new ConfigFiles(c, deps.haproxy, this.now),
      template: deps.template,
      settings: () => this.settings(),
      slotOptions: c,
      refusalMemoryMs: 2 * c.reconcileIntervalMs,
      now: this.now,
    });
    // A lone change goes at once; a burst behind it is one more pass (the queue runs one at a time).
    this.coalescer = new Coalescer(c.coalesceMinMs, c.coalesceMaxMs, () => this.queue.add('membership'), realTimers, true);
    // The mirror checks the whole config (seconds at 16,384 slots): it runs beside membership,
    // so membership never waits for it.
    this.mirrorCoalescer = new Coalescer(c.mirrorDelayMs, c.mirrorDelayMs * 5, () => this.queue.add('mirror'));
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
    const s = structuredClone(this.st);
    const counts = this.deps.runtime.counts;
    if (counts) Object.assign(s.runtime, { sent: counts.sent, failed: counts.failed, retried: counts.retried });
    const until = this.desired.heldUntil;
    Object.assign(s, { holds: this.desired.counts.holds, failStaticHeld: this.desired.failStatic.held, quarantined: this.desired.quarantined, rejectedRecords: this.desired.counts.rejected, records: this.desired.counts.admitted });
    s.overCap = Object.fromEntries(this.desired.overCap);
    s.storeUnsyncedSeconds = this.storeUnsyncedMs() / 1000;
    s.heldUntil = until !== undefined && until > this.now() ? new Date(this.wall() + until - this.now()).toISOString() : undefined;
    s.queue = { depth: this.queue.depth, retries: this.queue.retries };
    if (this.lastFullSyncAt !== undefined) s.lastFullSyncAgeSeconds = (this.now() - this.lastFullSyncAt) / 1000;
    return s;
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
    const s = this.st;
    return this.desired.synced && s.haproxy === 'reachable' && s.structureLive && s.converged && !(this.desired.counts.admitted > 0 && s.nodes === 0);
  }

  /** How long the node or the operator keys have been out of sync, ms (monotonic). */
  private storeUnsyncedMs(): number {
    return Math.max(this.sync.unsyncedMs(), this.operatorSync.unsyncedMs());
  }

  /** Every slot of every backend: which node sits where (`/status`). */
  slotViews(): Record<string, SlotView[]> {
    return slotViews(this.slots.all());
  }

  /** Held and quarantined records and why (at most `limit`), with wall-clock deadlines. */
  setAside(limit = 1000): (Omit<SetAside, 'until'> & { until?: string })[] {
    return this.desired.setAside(limit).map(({ until, ...a }) => (until === undefined ? a : { ...a, until: new Date(this.wall() + until - this.now()).toISOString() }));
  }

  /** Lists the nodes again, admitting every record anew (the admission rules changed). */
  relist(reason: string): void {
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

  /** `/status`'s backends, with HAProxy's live status, sessions and weight of every slot. */
  async slotViewsLive(): Promise<Record<string, SlotView[]>> {
    const views = this.slotViews();
    let rows: Map<string, ServerStats> | undefined;
    try {
      const [stat] = await (this.deps.statusRuntime ?? this.deps.runtime).run(['show stat -1 4 -1']);
      rows = parseStatRows(stat!);
    } catch {
      // HAProxy unreachable: the renderer's own view only (status says so).
    }
    for (const [backend, slots] of Object.entries(views)) {
      for (const v of slots) {
        const h = rows?.get(`${backend}/${v.slot}`);
        if (h) v.haproxy = h;
        if (v.node) {
          const o = this.desired.override(backend, v.node);
          if (o) v.operator = o;
        }
      }
    }
    return views;
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
    this.fullRead = true;
    if (!this.coalescer.pending) this.queue.add('membership');
    return { requeueAfterMs: this.c.reconcileIntervalMs };
  }

  /** Membership and structure: one pass over every change seen so far. */
  private async reconcileMembership(): Promise<Outcome> {
    // Nothing is decided before the first full list: an unreachable etcd changes nothing.
    if (!this.desired.synced || this.stopped) return;
    const taking = this.unapplied;
    this.unapplied = undefined;
    const whole = this.fullRead || !this.lastActual;
    let out: Outcome;
    try {
      out = await this.pass();
    } finally {
      if (taking && this.st.converged && this.st.structureLive) observe(this.st.changeApplied[taking.kind], (this.now() - taking.since) / 1000);
      else if (taking) this.putBack(taking);
    }
    if (whole && this.st.converged && this.st.structureLive) this.lastFullSyncAt = this.now();
    if (out?.retry) this.fullRead = true;
    // A hold that ends is a change of its own: the pass that applies it is asked for here.
    const expiry = this.desired.nextExpiry;
    if (expiry !== undefined && !out?.retry) {
      const inMs = Math.max(0, expiry - this.now()) + 10;
      if (out?.requeueAfterMs === undefined || inMs < out.requeueAfterMs) return { requeueAfterMs: inMs };
    }
    return out;
  }

  private async pass(): Promise<Outcome> {
    let actual = await this.observe();
    if (!actual) return { retry: true };
    if (!this.adopted) this.adopt(actual);
    const records = this.desired.records();
    // Slots whose leavers' sessions ended are free before new nodes look for one.
    this.freeLeavers(actual);
    this.slots.plan(records, this.now());
    this.st.duplicates = this.slots.duplicates;
    for (const e of this.slots.changes) this.emit('node', nodeChange(e));

    let retry = false;
    const id = structureId(this.deps.template, this.settings(), this.slots.structure());
    this.st.structureId = id;
    if (!this.runs(actual, id)) this.st.structureLive = false;
    if (!this.runs(actual, id)) {
      const applied = await this.applyStructure(id, actual, records);
      retry = applied === 'retry';
      if (applied === 'reloaded') {
        actual = await this.observe(true);
        if (!actual) return { retry: true };
        if (!this.runs(actual, id)) {
          const why = actual.structureId === undefined ? 'the config sets no proc.leasehold_structure (a custom template without it?)' : `it runs ${actual.structureId}`;
          this.refuse('verify', new ReloadError(`reloaded for structure ${id}, but ${why}`));
        }
      }
    }
    this.st.structureLive = this.runs(actual, id);
    if (this.st.structureLive) {
      this.liveStructure = this.slots.structure();
      this.slots.live();
    }

    // Membership goes on while a structural change is refused: servers the worker has are set.
    if (!(await this.reconcile(actual))) retry = true;
    const summary = slotSummary(this.slots.all());
    [this.st.slots, this.st.nodes] = [summary.slots, summary.nodes];
    // A big config takes long to check: the mirror waits long enough not to check all the time.
    this.mirrorCoalescer.setDelays(Math.max(this.c.mirrorDelayMs, 10 * this.config.lastCheckMs));
    this.lastRecords = records;
    if (retry) return { retry: true };
    if (this.slots.all().some((p) => p.slots.some((x) => x.state === 'leaving'))) return { requeueAfterMs: LEAVING_RECHECK_MS };
  }

  /** A restarted renderer takes over what the running worker has: no reload, no flap. */
  private adopt(actual: Actual): void {
    const records = this.desired.admitted();
    const inRotation = actual.servers.filter((a) => (a.admin & 0x01) === 0);
    const known = new Set([...records.values()].map((r) => `${r.service}|${r.address}|${r.port}`));
    const matched = inRotation.filter((a) => known.has(`${a.backend}|${a.address}|${a.port}`)).length;
    if (inRotation.length >= 2 && matched * 2 < inRotation.length) {
      // An emptied etcd met at start: keep what HAProxy serves for a while, as for a list.
      const kept = new Map<string, NodeRecord>();
      // Servers that match a record are adopted as that node, not held beside it under the same address.
      for (const a of inRotation) {
        if (known.has(`${a.backend}|${a.address}|${a.port}`)) continue;
        kept.set(`held:${a.backend}/${a.server}`, { id: `${a.server}-held`, service: a.backend, address: a.address, port: a.port, tag: a.server, weight: a.weight, state: 'up', registeredAt: new Date(0).toISOString() });
      }
      this.desired.hold(`only ${matched} of the ${inRotation.length} servers HAProxy runs are in etcd`, kept);
    }
    this.slots.adopt(actual.servers, this.desired.records(), this.now());
    this.adopted = true;
    this.mirrorCoalescer.trigger();
  }

  private settings(): RenderSettings {
    const { frontendBind, statsBind, defaultService, healthCheckPath, healthCheckPaths, adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, requestLog, connectTimeout, routesMap, routes, pageServer } = this.c;
    return { frontendBind, statsBind, defaultService, healthCheckPath, ...(healthCheckPaths?.length && { healthCheckPaths }), adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, ...(requestLog !== 'off' && { requestLog }), connectTimeout, routesMap, routes, ...(pageServer && { pageServer }) };
  }

  /** Whether the worker runs structure `id`: it says so, or it cannot (a template without the variable) and we reloaded it for `id`. */
  private runs(actual: Actual, id: string): boolean {
    return actual.structureId === id || (actual.structureId === undefined && this.config.reloadedId === id);
  }

  /** The leaving slots whose sessions decide when they are free. */
  private leavingQueries(actual?: Actual): SessionQuery[] {
    const out: SessionQuery[] = [];
    for (const p of this.slots.all()) for (const s of p.slots) if (s.state === 'leaving') out.push({ backend: p.service, server: s.name });
    if (!out.length) return out; // every pass asks: no map of every server for nothing
    const ids = new Map(actual?.servers.map((a) => [`${a.backend}/${a.server}`, a.id]));
    return out.map((q) => ({ ...q, id: ids.get(`${q.backend}/${q.server}`) }));
  }

  /** Reads the whole worker (the whole compare, and after a reload). @throws RuntimeError */
  private async read(): Promise<Actual> {
    this.lastActual = await observeWorker(this.deps.runtime, this.leavingQueries(this.lastActual));
    return this.lastActual;
  }

  /** Reads back the servers a reconcile touched; `last` stands for the rest. @throws RuntimeError */
  private async readServers(touched: ActualServer[], last: Actual): Promise<Actual> {
    this.lastActual = await observeServers(this.deps.runtime, touched, last);
    return this.lastActual;
  }

  /** The servers' state as HAProxy has it now, for the next worker or the file on disk (not kept as a read: it may race a pass). */
  private async serverState(fallback: Actual): Promise<string> {
    if (!fallback.raw) return carryServerState(fallback.raw, desiredServers(this.slots.all()));
    const fresh = await observeWorker(this.deps.runtime, []).catch(() => fallback);
    return carryServerState(fresh.raw, desiredServers(this.slots.all()));
  }

  /**
   * Reads the worker at the start of a pass: whole on the interval and after any trouble; else
   * the last read stands (HAProxy changes only by our commands, and each is verified by a re-read;
   * drift is found by the interval's whole read), with fresh sessions of leaving slots. Before any
   * answer, a missing admin socket with a live master is a config without one (a bootstrap
   * config): an empty worker, to be given a structure.
   */
  private async observe(whole = this.fullRead || !this.lastActual): Promise<Actual | undefined> {
    try {
      let actual: Actual;
      if (whole) actual = await this.read();
      else {
        const queries = this.leavingQueries(this.lastActual);
        actual = queries.length ? await observeWorker(this.deps.runtime, queries, this.lastActual) : this.lastActual!;
      }
      this.fullRead = false;
      this.observedOnce = true;
      this.haproxyIs('reachable');
      return actual;
    } catch (err) {
      const code = ((err as RuntimeError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (!this.observedOnce && code === 'ENOENT' && (await this.deps.haproxy.showProc().catch(() => undefined))) {
        this.haproxyIs('reachable');
        return EMPTY_WORKER;
      }
      this.haproxyIs('unreachable', err as RuntimeError);
      return undefined;
    }
  }

  private haproxyIs(state: 'reachable' | 'unreachable', error?: LeaseholdError): void {
    const was = this.st.haproxy;
    this.st.haproxy = state;
    if (state === 'unreachable') {
      this.st.converged = false;
      if (was !== 'unreachable') this.refuse('runtime', error ?? new RuntimeError('HAProxy unreachable'));
    }
  }

  // ---- structure: the config writer reloads; the loop reports and decides ----

  /** `reloaded`, `retry` (a refusal that may pass later), or `no` (unchanged, refused by its check, quarantined). */
  private async applyStructure(id: string, actual: Actual, records: NodeRecord[]): Promise<'reloaded' | 'retry' | 'no'> {
    const cause = this.reloadCause();
    const out = await this.config.reload(id, this.slots, records, () => this.serverState(actual));
    if (out.kind !== 'applied') return this.configRefused(out) ? 'retry' : 'no';
    this.slots.reloaded();
    this.st.reloads[cause]++;
    this.emit('reload', { ...out.result!, cause, structureId: id, slots: this.slots.all().reduce((n, p) => n + p.slots.length, 0), bytes: out.bytes, checkMs: out.checkMs });
    return 'reloaded';
  }

  /** Reports what the config writer refused; true when trying again later may pass (not its check). */
  private configRefused(out: Exclude<ConfigOutcome, { kind: 'applied' }>): boolean {
    if (out.kind === 'unchanged') return false;
    this.refuse(out.stage, out.error);
    if (out.kind === 'quarantined') {
      this.desired.quarantineRecords(out.records);
      this.queue.add('membership');
    }
    return out.kind === 'refused' && out.stage !== 'check' && out.stage !== 'render';
  }

  private reloadCause(): ReloadCause {
    const now = this.slots.structure();
    const was = this.liveStructure;
    if (!was) return 'config';
    const names = (s: Structure) => s.services.map((x) => x.name).join(',');
    if (names(now) !== names(was)) return 'services';
    return JSON.stringify(now) !== JSON.stringify(was) ? 'pool' : 'config';
  }

  /**
   * Brings the config on disk in line with the slots (no reload), beside membership: a restart
   * comes up the same. Renders the slots as they are when its turn comes.
   */
  private async mirror(): Promise<Outcome> {
    if (this.stopped || !this.st.structureLive || !this.st.structureId || !this.lastActual) return;
    const out = await this.config.mirror(this.st.structureId, this.slots, this.lastRecords, () => this.serverState(this.lastActual!));
    if (out.kind === 'applied') return void this.emit('mirror', { bytes: out.bytes, checkMs: out.checkMs });
    if (this.configRefused(out)) return { retry: true };
  }

  // ---- membership: desired vs actual → commands → read back what was touched → verify ----

  /** False when HAProxy could not be reached or did not converge (the caller retries). */
  private async reconcile(actual: Actual): Promise<boolean> {
    const started = this.now();
    let out: Awaited<ReturnType<Reconciler['reconcile']>>;
    try {
      out = await this.reconciler.reconcile(desiredServers(this.slots.all()), actual);
    } catch (err) {
      this.haproxyIs('unreachable', err as RuntimeError);
      return false;
    }
    this.st.pending = out.missing.filter((d) => d.admin !== 'maint').length + this.slots.unplaced;
    for (const x of out.drift) this.emit('drift', { backend: x.desired.backend, server: x.desired.server, node: x.desired.node, fields: x.fields });
    this.st.driftRepaired += out.drift.length;
    this.st.runtime.refusedAnswers += out.refused.length;
    const durationMs = Math.round(this.now() - started);
    if (out.differed.length) {
      this.emit('reconciled', { changed: out.differed.length - out.unconverged.length, drift: out.drift.length, commands: out.commands, refused: out.refused.slice(0, 5), unconverged: out.unconverged.length, durationMs });
      this.mirrorCoalescer.trigger();
    }
    this.st.converged = out.unconverged.length === 0;
    if (out.unconverged.length) {
      const first = out.unconverged[0]!;
      this.st.lastError = `${out.unconverged.length} server(s) still differ from the store after reconcile, first ${first.desired.backend}/${first.desired.server} (${first.fields.join(',')})`;
    }
    this.st.reconcile.count++;
    this.st.reconcile.totalMs += durationMs;
    this.st.reconcile.lastMs = durationMs;
    this.st.lastReconcileAt = new Date(this.wall()).toISOString();
    return this.st.converged;
  }

  /**
   * Leaving slots whose sessions ended (or waited `leaveMaxMs`) may take another node; so may one
   * the worker never had (a structural change that was refused or is still to come).
   */
  private freeLeavers(actual: Actual): void {
    // Most passes have no leaver: no map of every server for them (16,384 at the largest).
    const leaving = this.slots.all().filter((p) => p.slots.some((s) => s.state === 'leaving'));
    if (!leaving.length) return;
    const have = new Map(actual.servers.map((a) => [`${a.backend}/${a.server}`, a]));
    for (const p of leaving) {
      for (const s of p.slots) {
        if (s.state !== 'leaving') continue;
        const key = `${p.service}/${s.name}`;
        const a = have.get(key);
        const drained = a !== undefined && (a.admin & 0x01) !== 0 && actual.sessions.get(key) === 0;
        if (!a || drained || s.leavingSince === undefined || this.now() - s.leavingSince >= this.c.leaveMaxMs) {
          this.slots.free(p.service, s.name);
          this.mirrorCoalescer.trigger();
        }
      }
    }
  }

  private refuse(stage: Stage, error: LeaseholdError): void {
    this.st.refused[stage]++;
    this.st.lastError = error.message;
    this.emit('refused', { stage, error });
  }
}
