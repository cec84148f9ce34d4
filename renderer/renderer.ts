import { EventEmitter } from 'node:events';
import type { AdmissionRules } from '../common/admission.js';
import { type LeaseholdError, ReloadError, RuntimeError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import { Coalescer } from './coalesce.js';
import { histogram, observe } from './histogram.js';
import { Desired } from './desired.js';
import type { NodeChange, ReloadCause, RendererEvents, RendererStatus, SlotView, Stage } from './events.js';
import type { Haproxy } from './haproxy.js';
import { isolate } from './isolate.js';
import { Membership, type ReconcileOutcome } from './membership.js';
import { desiredServers } from './reconcile.js';
import { type RenderSettings, type Template, render, structureId } from './render.js';
import type { RuntimeChannel } from './runtime.js';
import { parseStatRows } from './runtime-state.js';
import { carryServerState } from './server-state.js';
import { type ActualServer, type SlotOptions, SlotTable, type Structure } from './slots.js';
import type { NodeStore } from './store.js';
import { StoreSync } from './store-sync.js';
import { StructureFiles } from './structure.js';
import { type Actual, EMPTY_WORKER, type SessionQuery, observeServers, observeWorker } from './worker.js';

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
  template: Template;
  /** Milliseconds on a clock that never steps, for holds, timers and durations. Default performance.now(). */
  monotonic?: () => number;
  /** Milliseconds since the epoch, only for the times `/status` shows. Default Date.now(). */
  wall?: () => number;
}

type Placement = { r: NodeRecord; slot: string };

/**
 * The renderer: the store's records in, HAProxy's structure and membership out. Each pass
 * (serialized; after a coalesced batch of changes or a timer) reads the worker, places the
 * admitted records in slots, reloads only if the structure changed, and reconciles membership
 * through the runtime API. The config on disk follows a moment later. Nothing is
 * fire-and-forget: a lost event or a hand-made change costs a delay, never correctness.
 */
export class Renderer extends EventEmitter<RendererEvents> {
  private readonly desired: Desired;
  private readonly slots: SlotTable;
  private readonly sync: StoreSync;
  private readonly operatorSync: StoreSync;
  private readonly membership: Membership;
  private readonly files: StructureFiles;
  private readonly coalescer: Coalescer;
  private readonly mirrorCoalescer: Coalescer;
  private readonly abort = new AbortController();
  /** Monotonic: every hold, wait and duration. */
  private readonly now: () => number;
  private readonly wall: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private observedOnce = false;
  private adopted = false;
  private passing?: Promise<void>;
  private passAgain = false;
  /** The worker as last read, and whether the next pass must read it whole again. */
  private lastActual?: Actual;
  private fullRead = true;
  /** Changes seen in etcd that no converged pass has applied yet: since when, and how they came. */
  private unapplied?: { since: number; kind: 'incremental' | 'full' };
  /** Config-file work (reloads, mirrors) one at a time, off the membership passes. */
  private fileLane: Promise<unknown> = Promise.resolve();
  private mirrorRunning = false;
  private mirrorAgain = false;
  private followUp?: NodeJS.Timeout;
  /** The text last written as the live config, and the last one `haproxy -c` refused. */
  private written?: string;
  private lastRefused?: string;
  private refusedId?: string;
  private refusedAt = 0;
  /** The structure this renderer last reloaded HAProxy for. */
  private reloadedId?: string;
  private liveStructure?: Structure;
  private lastCheckMs = 0;
  /** The records the last pass served (the mirror's quarantine search starts from them). */
  private lastRecords: NodeRecord[] = [];
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
    this.desired = new Desired(c, this.now);
    this.desired.on('rejected', (e) => this.emit('rejected', e));
    this.desired.on('operator', (e) => this.emit('operator', e));
    this.desired.on('held', ({ reason, until }) => {
      this.emit('store', { state: 'held', reason });
      this.later(until - this.now() + 10, () => void this.pass());
    });
    this.desired.on('failStatic', (e) => {
      this.emit('failStatic', e);
      if (e.until !== undefined) this.later(e.until - this.now() + 10, () => void this.pass());
    });
    this.slots = new SlotTable(c);
    this.membership = new Membership(deps.runtime, (touched) => (touched ? this.readServers(touched) : this.read()));
    this.files = new StructureFiles(c, deps.haproxy, this.now);
    this.coalescer = new Coalescer(c.coalesceMinMs, c.coalesceMaxMs, () => void this.pass());
    // The mirror checks the whole config (seconds at 16,384 slots): it runs beside the passes,
    // so membership never waits for it.
    this.mirrorCoalescer = new Coalescer(c.mirrorDelayMs, c.mirrorDelayMs * 5, () => void this.mirror());
    this.sync = new StoreSync(deps.store, c.prefix, {
      snapshot: (snap) => {
        this.desired.onSnapshot(snap, new Map([...this.placements()].map(([k, p]) => [k, p.r])));
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
    const out: Record<string, SlotView[]> = {};
    for (const p of this.slots.all()) {
      out[p.service] = p.slots.map((s) => {
        const n = s.state === 'free' ? undefined : s.node;
        return n ? { slot: s.name, state: s.state, node: n.id, address: n.address, port: n.port, weight: n.weight } : { slot: s.name, state: s.state };
      });
    }
    return out;
  }

  /** Lists the nodes again, admitting every record anew (the admission rules changed). */
  relist(reason: string): void {
    this.sync.resync(reason);
  }

  /** Lists, watches and applies until stopped; retries etcd and HAProxy in the background. */
  start(): void {
    this.sync.resync('start');
    this.operatorSync.resync('start');
    this.every(this.c.resyncIntervalMs, () => {
      this.sync.resync('periodic');
      this.operatorSync.resync('periodic');
    });
    this.every(this.c.reconcileIntervalMs, () => {
      this.fullRead = true;
      // A burst under way is not cut short: its own pass comes within coalesceMaxMs, whole read.
      if (!this.coalescer.pending) void this.pass();
    });
  }

  /** Stops watching and timers, and waits for the pass under way, at most `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<boolean> {
    this.abort.abort();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.coalescer.cancel();
    this.mirrorCoalescer.cancel();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const finished = await Promise.race([(async () => (await this.sync.stop(), await this.operatorSync.stop(), await this.passing, await this.fileLane, true))(), late]);
    clearTimeout(timer);
    return finished;
  }

  /** Waits until no pass is under way or due (tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.passing || this.coalescer.pending) {
      await (this.passing ?? new Promise((r) => setTimeout(r, 5)));
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

  private every(ms: number, fn: () => void): void {
    this.timers.add(setInterval(fn, ms));
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private retrySoon(ms = 1000): void {
    this.fullRead = true;
    if (this.followUp || this.abort.signal.aborted) return;
    this.followUp = this.later(ms, () => {
      this.followUp = undefined;
      void this.pass();
    });
  }

  /** `/status`'s backends, with HAProxy's live status, sessions and weight of every slot. */
  async slotViewsLive(): Promise<Record<string, SlotView[]>> {
    const views = this.slotViews();
    let rows: Map<string, { status: string; sessions: number; weight: number }> | undefined;
    try {
      const [stat] = await this.deps.runtime.run(['show stat -1 4 -1']);
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

  // ---- passes ----

  /** One pass at a time; triggers that arrive meanwhile get one more pass. */
  private pass(): Promise<void> {
    if (this.passing) {
      this.passAgain = true;
      return this.passing;
    }
    this.passing = (async () => {
      do {
        this.passAgain = false;
        await this.passOnce();
      } while (this.passAgain && !this.abort.signal.aborted);
    })().finally(() => {
      this.passing = undefined;
    });
    return this.passing;
  }

  private async passOnce(): Promise<void> {
    // Nothing is decided before the first full list: an unreachable etcd changes nothing.
    if (!this.desired.synced || this.abort.signal.aborted) return;
    // What this pass takes from the store: every change seen so far (records() below reads them).
    const taking = this.unapplied;
    this.unapplied = undefined;
    try {
      await this.passBody();
    } finally {
      if (taking && this.st.converged && this.st.structureLive) observe(this.st.changeApplied[taking.kind], (this.now() - taking.since) / 1000);
      else if (taking) this.putBack(taking);
    }
  }

  private async passBody(): Promise<void> {
    let actual = await this.observe();
    if (!actual) return;
    if (!this.adopted) this.adopt(actual);
    const records = this.desired.records();
    // Slots whose leavers' sessions ended are free before new nodes look for one.
    this.freeLeavers(actual);
    const before = this.placements();
    this.slots.plan(records, this.now());
    this.st.duplicates = this.slots.duplicates;
    this.reportNodes(before, this.placements());

    const id = structureId(this.deps.template, this.settings(), this.slots.structure());
    this.st.structureId = id;
    if (!this.runs(actual, id)) this.st.structureLive = false;
    if (!this.runs(actual, id) && (await this.applyStructure(id, actual, records))) {
      actual = await this.observe(true);
      if (!actual) return;
      if (!this.runs(actual, id)) {
        const why = actual.structureId === undefined ? 'the config sets no proc.leasehold_structure (a custom template without it?)' : `it runs ${actual.structureId}`;
        this.refuse('verify', new ReloadError(`reloaded for structure ${id}, but ${why}`));
      }
    }
    this.st.structureLive = this.runs(actual, id);
    if (this.st.structureLive) {
      this.liveStructure = this.slots.structure();
      this.slots.live();
    }

    // Membership goes on while a structural change is refused: servers the worker has are set.
    await this.reconcile(actual);
    this.updateSlotStatus();
    if (this.slots.all().some((p) => p.slots.some((x) => x.state === 'leaving'))) this.later(500, () => void this.pass());
    this.lastRecords = records;
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
      for (const a of inRotation) {
        kept.set(`held:${a.backend}/${a.server}`, { id: `${a.server}-held`, service: a.backend, address: a.address, port: a.port, tag: a.server, weight: a.weight, state: 'up', registeredAt: new Date(0).toISOString() });
      }
      this.desired.hold(`only ${matched} of the ${inRotation.length} servers HAProxy runs are in etcd`, kept);
    }
    this.slots.adopt(actual.servers, this.desired.records(), this.now());
    this.adopted = true;
    this.mirrorCoalescer.trigger();
  }

  private settings(): RenderSettings {
    const { frontendBind, statsBind, defaultService, healthCheckPath, healthCheckPaths, adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, connectTimeout, routesMap, routes } = this.c;
    return { frontendBind, statsBind, defaultService, healthCheckPath, ...(healthCheckPaths?.length && { healthCheckPaths }), adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, connectTimeout, routesMap, routes };
  }

  /** Whether the worker runs structure `id`: it says so, or it cannot (a template without the variable) and we reloaded it for `id`. */
  private runs(actual: Actual, id: string): boolean {
    return actual.structureId === id || (actual.structureId === undefined && this.reloadedId === id);
  }

  /** The leaving slots whose sessions decide when they are free. */
  private leavingQueries(actual?: Actual): SessionQuery[] {
    const out: SessionQuery[] = [];
    for (const p of this.slots.all()) for (const s of p.slots) if (s.state === 'leaving') out.push({ backend: p.service, server: s.name });
    if (!out.length) return out; // every pass asks: no map of every server for nothing
    const ids = new Map(actual?.servers.map((a) => [`${a.backend}/${a.server}`, a.id]));
    return out.map((q) => ({ ...q, id: ids.get(`${q.backend}/${q.server}`) }));
  }

  /** Reads the whole worker (a reconcile's re-reads, every interval). @throws RuntimeError */
  private async read(): Promise<Actual> {
    this.lastActual = await observeWorker(this.deps.runtime, this.leavingQueries(this.lastActual));
    return this.lastActual;
  }

  /** Reads back the servers a reconcile touched (the last read stands for the rest). @throws RuntimeError */
  private async readServers(touched: ActualServer[]): Promise<Actual> {
    this.lastActual = await observeServers(this.deps.runtime, touched, this.lastActual ?? (await this.read()));
    return this.lastActual;
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
      this.retrySoon();
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

  // ---- structure: render → skip if refused → stage → check → rename → reload → verify ----

  private async applyStructure(id: string, actual: Actual, records: NodeRecord[]): Promise<boolean> {
    const cause = this.reloadCause();
    const text = this.render(id);
    if (text === undefined) return false;
    // A refused structure is not tried again until it changes or a while passes, or every
    // membership change would repeat the refusal (and its log line).
    if (text === this.lastRefused || (id === this.refusedId && this.now() - this.refusedAt < 2 * this.c.reconcileIntervalMs)) return false;
    const out = await this.inFileLane(async () => {
      // The health the next worker inherits is what this one sees now, not at the last read.
      const fresh = actual.raw ? await this.read().catch(() => actual) : actual;
      return this.files.reload(text, carryServerState(fresh.raw, desiredServers(this.slots.all())));
    });
    if (!out.ok) {
      [this.refusedId, this.refusedAt] = [id, this.now()];
      if (out.stage === 'check') this.lastRefused = text;
      this.refuse(out.stage, out.error);
      if (out.stage === 'check') await this.quarantineFor(records);
      else this.retrySoon();
      return false;
    }
    this.lastCheckMs = out.checkMs;
    this.written = text;
    this.lastRefused = this.refusedId = undefined;
    this.reloadedId = id;
    this.slots.reloaded();
    this.st.reloads[cause]++;
    this.emit('reload', { ...out.result!, cause, structureId: id, slots: this.slots.all().reduce((n, p) => n + p.slots.length, 0), bytes: out.bytes, checkMs: out.checkMs });
    return true;
  }

  private render(id: string, slots = this.slots): string | undefined {
    try {
      return render(this.deps.template, slots.all(), this.settings(), id);
    } catch (err) {
      this.refuse('render', err as LeaseholdError);
      return undefined;
    }
  }

  /**
   * `haproxy -c` refused: finds the records whose server lines it refuses (bisecting), keeps them
   * out until they change, and reports each. If even no record at all is refused, the fault is
   * the template or the settings: nothing to quarantine.
   */
  private async quarantineFor(records: NodeRecord[]): Promise<void> {
    const accepts = async (subset: NodeRecord[]) => {
      const t = new SlotTable(this.c);
      t.plan(subset, this.now());
      const text = this.render(structureId(this.deps.template, this.settings(), t.structure()), t);
      return text !== undefined && this.files.accepts(text);
    };
    const found = await isolate(records, accepts);
    // A record refused only in company (too many for the template, say) is not poison: the
    // refusal is the structure's, and it stands.
    const culprits: NodeRecord[] = [];
    for (const r of found ?? []) if (!(await accepts([r]))) culprits.push(r);
    if (!culprits.length) return;
    this.desired.quarantineRecords(culprits);
    this.lastRefused = this.refusedId = undefined;
    this.passAgain = true;
  }

  private reloadCause(): ReloadCause {
    const now = this.slots.structure();
    const was = this.liveStructure;
    if (!was) return 'config';
    const names = (s: Structure) => s.services.map((x) => x.name).join(',');
    if (names(now) !== names(was)) return 'services';
    return JSON.stringify(now) !== JSON.stringify(was) ? 'pool' : 'config';
  }

  /** Config-file work one at a time: a reload waits for a mirror under way, and the reverse. */
  private inFileLane<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.fileLane.then(fn);
    this.fileLane = run.catch(() => undefined);
    return run;
  }

  /**
   * Brings the config on disk in line with the slots (no reload), beside the passes: a restart
   * comes up the same. Renders the slots as they are when its turn comes.
   */
  private mirror(): Promise<void> {
    if (this.abort.signal.aborted) return Promise.resolve();
    if (this.mirrorRunning) {
      this.mirrorAgain = true;
      return Promise.resolve();
    }
    this.mirrorRunning = true;
    return this.inFileLane(async () => {
      if (!this.st.structureLive || !this.st.structureId || !this.lastActual) return;
      const text = this.render(this.st.structureId);
      if (text === undefined || text === this.written || text === this.lastRefused) return;
      const fresh = await this.read().catch(() => this.lastActual!);
      const out = await this.files.mirror(text, carryServerState(fresh.raw, desiredServers(this.slots.all())));
      if (!out.ok) {
        this.refuse(out.stage, out.error);
        if (out.stage !== 'check') return this.mirrorCoalescer.trigger();
        this.lastRefused = text;
        await this.quarantineFor(this.lastRecords);
        return void this.pass();
      }
      this.lastCheckMs = out.checkMs;
      this.written = text;
      this.emit('mirror', { bytes: out.bytes, checkMs: out.checkMs });
    }).finally(() => {
      this.mirrorRunning = false;
      if (this.mirrorAgain) {
        this.mirrorAgain = false;
        this.mirrorCoalescer.trigger();
      }
    });
  }

  // ---- membership: desired vs actual → commands → re-read → verify ----

  private async reconcile(actual: Actual): Promise<void> {
    const started = this.now();
    let out: ReconcileOutcome;
    try {
      out = await this.membership.reconcile(desiredServers(this.slots.all()), actual);
    } catch (err) {
      this.haproxyIs('unreachable', err as RuntimeError);
      this.retrySoon();
      return;
    }
    Object.assign(actual, out.actual);
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
      this.retrySoon();
    }
    this.st.reconcile.count++;
    this.st.reconcile.totalMs += durationMs;
    this.st.reconcile.lastMs = durationMs;
    this.st.lastReconcileAt = new Date(this.wall()).toISOString();
  }

  /**
   * Leaving slots whose sessions ended (or waited `leaveMaxMs`) may take another node; so may one
   * the worker never had (a structural change that was refused or is still to come).
   */
  private freeLeavers(actual: Actual): void {
    const have = new Map(actual.servers.map((a) => [`${a.backend}/${a.server}`, a]));
    for (const p of this.slots.all()) {
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

  private updateSlotStatus(): void {
    let nodes = 0;
    this.st.slots = this.slots.all().map((p) => {
      const used = p.slots.filter((s) => s.state !== 'free').length;
      nodes += p.slots.filter((s) => s.state === 'ready' || s.state === 'drain').length;
      return { service: p.service, used, total: p.slots.length };
    });
    this.st.nodes = nodes;
    // A big config takes long to check: the mirror waits long enough not to check all the time.
    this.mirrorCoalescer.setDelays(Math.max(this.c.mirrorDelayMs, 10 * this.lastCheckMs));
  }

  // ---- reports ----

  private refuse(stage: Stage, error: LeaseholdError): void {
    this.st.refused[stage]++;
    this.st.lastError = error.message;
    this.emit('refused', { stage, error });
  }

  /** Nodes in a slot (ready or draining), by record key. */
  private placements(): Map<string, Placement> {
    const out = new Map<string, Placement>();
    for (const p of this.slots.all()) {
      for (const s of p.slots) if ((s.state === 'ready' || s.state === 'drain') && s.node) out.set(`${this.c.prefix}${p.service}/${s.node.id}`, { r: s.node, slot: s.name });
    }
    return out;
  }

  private reportNodes(before: Map<string, Placement>, after: Map<string, Placement>): void {
    const ev = (change: NodeChange['change'], { r, slot }: Placement) =>
      this.emit('node', { change, service: r.service, id: r.id, address: r.address, port: r.port, weight: r.weight, state: r.state, slot });
    for (const [k, v] of before) if (!after.has(k)) ev('left', v);
    for (const [k, v] of after) {
      const old = before.get(k)?.r;
      if (!old) ev('joined', v);
      else if (old.address !== v.r.address || old.port !== v.r.port || old.weight !== v.r.weight || old.state !== v.r.state || old.tag !== v.r.tag) ev('changed', v);
    }
  }
}
