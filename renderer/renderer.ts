import { EventEmitter } from 'node:events';
import type { AdmissionRules } from '../common/admission.js';
import { type LeaseholdError, RecordError, ReloadError, RuntimeError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import { Coalescer } from './coalesce.js';
import type { Haproxy, ReloadResult } from './haproxy.js';
import { isolate } from './isolate.js';
import { Membership, type ReconcileOutcome } from './membership.js';
import { desiredServers } from './reconcile.js';
import { type RenderSettings, type Template, render, structureId } from './render.js';
import type { RuntimeChannel } from './runtime.js';
import { carryServerState } from './server-state.js';
import { type SlotOptions, type SlotState, SlotTable, type Structure } from './slots.js';
import type { NodeStore, Snapshot } from './store.js';
import { type StoreEvent, StoreSync } from './store-sync.js';
import { StructureFiles, type StructureStage } from './structure.js';
import { OperatorView, type Override } from './operator-view.js';
import { NodeView } from './view.js';
import { type Actual, EMPTY_WORKER, type SessionQuery, observeWorker } from './worker.js';
import { parseStatRows } from './runtime-state.js';

export type { StoreEvent } from './store-sync.js';

export interface NodeChange {
  change: 'joined' | 'left' | 'changed';
  service: string;
  id: string;
  address: string;
  port: number;
  weight: number;
  state: NodeRecord['state'];
  /** The server slot it sits (or sat) in. */
  slot: string;
}

/** Why a reload happened: a service came or went, a pool resized, or the config (template, settings, an unknown running config). */
export type ReloadCause = 'services' | 'pool' | 'config';

export interface ReloadEvent extends ReloadResult {
  cause: ReloadCause;
  structureId: string;
  slots: number;
  bytes: number;
  checkMs: number;
}

export type Stage = 'render' | StructureStage | 'verify' | 'runtime';

export interface RefusedEvent {
  stage: Stage;
  error: LeaseholdError;
}

/** A reconcile that found differences: what it changed, what was drift, what it could not fix. */
export interface ReconciledEvent {
  changed: number;
  drift: number;
  commands: number;
  /** Commands HAProxy answered with an error (first few). */
  refused: { command: string; answer: string }[];
  /** Servers still different after the commands and re-reads. */
  unconverged: number;
  durationMs: number;
}

export interface DriftEvent {
  backend: string;
  server: string;
  node?: string;
  fields: string[];
}

/** An operator key (drain, weight) that came, changed or went. */
export interface OperatorEvent {
  change: 'drained' | 'undrained' | 'weight' | 'weight-reset';
  service: string;
  id: string;
  weight?: number;
}

export interface MirrorEvent {
  bytes: number;
  checkMs: number;
}

export interface RendererEvents {
  store: [StoreEvent];
  rejected: [RecordError];
  node: [NodeChange];
  reload: [ReloadEvent];
  refused: [RefusedEvent];
  reconciled: [ReconciledEvent];
  drift: [DriftEvent];
  mirror: [MirrorEvent];
  operator: [OperatorEvent];
}

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
  /** Services that always have a backend: the default one and the ROUTES targets. */
  services: string[];
  /** What records must satisfy to reach HAProxy. */
  admission: AdmissionRules;
}

export interface RendererDeps {
  store: NodeStore;
  haproxy: Pick<Haproxy, 'check' | 'reload' | 'showProc'>;
  runtime: Pick<RuntimeChannel, 'run'> & { counts?: RuntimeChannel['counts'] };
  template: Template;
  now?: () => number;
}

/** One slot as `/status` shows it. */
export interface SlotView {
  slot: string;
  state: SlotState;
  node?: string;
  address?: string;
  port?: number;
  weight?: number;
  /** An operator's drain or weight on this node. */
  operator?: Override;
  /** HAProxy's own view, read when asked. */
  haproxy?: { status: string; sessions: number; weight: number };
}

/** What /health, /status and /metrics show. */
export interface RendererStatus {
  etcd: 'starting' | 'connected' | 'unreachable';
  haproxy: 'unknown' | 'reachable' | 'unreachable';
  revision?: string;
  /** Records admitted, and nodes sitting in a slot (ready or draining). */
  records: number;
  nodes: number;
  structureId?: string;
  /** The running worker has the structure the store asks for. */
  structureLive: boolean;
  /** The last reconcile left no difference on servers the worker has. */
  converged: boolean;
  /** Nodes waiting for a structural change (a pool that has not grown yet). */
  pending: number;
  /** A suspicious list is held: the previous nodes keep serving until this time. */
  heldUntil?: string;
  holds: number;
  /** Records excluded because `haproxy -c` refused their server line. */
  quarantined: number;
  lastReconcileAt?: string;
  reloads: Record<ReloadCause, number>;
  refused: Record<Stage, number>;
  runtime: { sent: number; failed: number; retried: number; refusedAnswers: number };
  driftRepaired: number;
  reconcile: { count: number; totalMs: number; lastMs: number };
  rejectedRecords: number;
  slots: { service: string; used: number; total: number }[];
  lastError?: string;
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
  private readonly view: NodeView;
  private readonly slots: SlotTable;
  private readonly sync: StoreSync;
  private readonly operators: OperatorView;
  private readonly operatorSync: StoreSync;
  /** Operator overrides as last applied, by `service/id`, to report what changed. */
  private lastOverrides = new Map<string, string>();
  private readonly membership: Membership;
  private readonly files: StructureFiles;
  private readonly coalescer: Coalescer;
  private readonly mirrorCoalescer: Coalescer;
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private synced = false;
  private observedOnce = false;
  private adopted = false;
  private passing?: Promise<void>;
  private passAgain = false;
  /** The worker as last read, and whether the next pass must read it whole again. */
  private lastActual?: Actual;
  private fullRead = true;
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
  private lastSnapshot?: { clusterId?: string; revision: bigint };
  /** While a suspicious list is held: the nodes placed before it, by key. */
  private held?: { until: number; records: Map<string, NodeRecord> };
  /** Records `haproxy -c` refused, by key, with the exact record refused. */
  private readonly quarantine = new Map<string, { record: string; reason: string }>();
  private readonly rejections = new Map<string, string>();
  private readonly unknownReported = new Set<string>();
  private readonly st: RendererStatus = {
    etcd: 'starting',
    haproxy: 'unknown',
    records: 0,
    nodes: 0,
    structureLive: false,
    converged: false,
    pending: 0,
    holds: 0,
    quarantined: 0,
    reloads: { services: 0, pool: 0, config: 0 },
    refused: { render: 0, write: 0, check: 0, reload: 0, verify: 0, runtime: 0 },
    runtime: { sent: 0, failed: 0, retried: 0, refusedAnswers: 0 },
    driftRepaired: 0,
    reconcile: { count: 0, totalMs: 0, lastMs: 0 },
    rejectedRecords: 0,
    slots: [],
  };

  constructor(
    private readonly c: RendererConfig,
    private readonly deps: RendererDeps,
  ) {
    super();
    this.now = deps.now ?? Date.now;
    this.view = new NodeView(c.prefix, c.admission);
    this.slots = new SlotTable(c);
    this.membership = new Membership(deps.runtime, () => this.read());
    this.files = new StructureFiles(c, deps.haproxy, this.now);
    this.coalescer = new Coalescer(c.coalesceMinMs, c.coalesceMaxMs, () => void this.pass());
    // The mirror checks the whole config (seconds at 16,384 slots): it runs beside the passes,
    // so membership never waits for it.
    this.mirrorCoalescer = new Coalescer(c.mirrorDelayMs, c.mirrorDelayMs * 5, () => void this.mirror());
    this.sync = new StoreSync(deps.store, c.prefix, {
      snapshot: (snap) => this.onSnapshot(snap),
      events: (events) => {
        this.view.apply(events);
        this.coalescer.trigger();
      },
      report: (e) => {
        this.st.etcd = e.state === 'synced' ? 'connected' : e.state === 'held' ? this.st.etcd : 'unreachable';
        if (e.revision) this.st.revision = e.revision;
        if (e.error) this.st.lastError = e.error.message;
        this.emit('store', e);
      },
    });
    this.operators = new OperatorView(c.operatorPrefix);
    this.operatorSync = new StoreSync(deps.store, c.operatorPrefix, {
      snapshot: (snap) => {
        this.operators.reset(snap.kvs);
        this.coalescer.trigger();
      },
      events: (events) => {
        this.operators.apply(events);
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
    return s;
  }

  /** Serving what the store says, or able to: what `/health` answers. */
  get healthy(): boolean {
    const s = this.st;
    return this.synced && s.haproxy === 'reachable' && s.structureLive && s.converged && !(s.records > 0 && s.nodes === 0);
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
      void this.pass();
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

  // ---- the store's picture ----

  /**
   * A full list. One that comes from another etcd (cluster id), goes back in time (revision) or
   * would take most nodes away at once is held: the nodes placed before it keep serving for
   * `holdMs` while registrars re-register, then the list applies as it is then.
   */
  private onSnapshot(snap: Snapshot): void {
    const prev = this.lastSnapshot;
    this.lastSnapshot = { clusterId: snap.clusterId, revision: snap.revision };
    const before = this.placements();
    this.view.reset(snap.kvs);
    this.synced = true;
    let why: string | undefined;
    if (prev?.clusterId && snap.clusterId && prev.clusterId !== snap.clusterId) why = `etcd's cluster id changed (${prev.clusterId} → ${snap.clusterId})`;
    else if (prev && snap.revision < prev.revision) why = `etcd's revision went backwards (${prev.revision} → ${snap.revision})`;
    else why = this.mostGone(before, this.view.evaluate().records);
    if (why) this.hold(why, before);
    this.coalescer.trigger();
  }

  private mostGone(before: Map<string, Placement>, records: Map<string, NodeRecord>): string | undefined {
    if (before.size < 2) return undefined;
    const kept = [...before.keys()].filter((k) => records.has(k)).length;
    return kept * 2 < before.size ? `${before.size - kept} of ${before.size} nodes gone at once` : undefined;
  }

  private hold(why: string, before: Map<string, Placement>): void {
    const until = this.now() + this.c.holdMs;
    this.held = { until, records: new Map([...before].map(([k, p]) => [k, p.r])) };
    this.st.holds++;
    this.st.heldUntil = new Date(until).toISOString();
    this.emit('store', { state: 'held', reason: `${why}: the previous ${before.size} nodes keep serving for ${this.c.holdMs} ms while registrars re-register` });
    this.later(this.c.holdMs + 10, () => void this.pass());
  }

  /** Records to serve: admitted, not quarantined, and those held through a suspicious list. */
  private recordsToServe(admitted: Map<string, NodeRecord>): Map<string, NodeRecord> {
    const out = new Map<string, NodeRecord>();
    for (const [k, r] of admitted) {
      const q = this.quarantine.get(k);
      if (q && q.record === JSON.stringify(r)) continue;
      if (q) this.quarantine.delete(k); // changed since: judged again
      out.set(k, r);
    }
    if (this.held && this.now() >= this.held.until) {
      this.held = undefined;
      this.st.heldUntil = undefined;
    }
    if (this.held) for (const [k, r] of this.held.records) if (!out.has(k)) out.set(k, r);
    this.st.quarantined = this.quarantine.size;
    return out;
  }

  /** Operator drains and weights over the registrars' records; reports what changed. */
  private withOverrides(records: NodeRecord[]): NodeRecord[] {
    const now = new Map([...this.operators.all()].map(([k, o]) => [k, JSON.stringify(o)]));
    for (const node of new Set([...now.keys(), ...this.lastOverrides.keys()])) {
      const before: Override = JSON.parse(this.lastOverrides.get(node) ?? '{}');
      const after: Override = JSON.parse(now.get(node) ?? '{}');
      const [service, id] = node.split('/') as [string, string];
      if (!before.drained && after.drained) this.emit('operator', { change: 'drained', service, id });
      if (before.drained && !after.drained) this.emit('operator', { change: 'undrained', service, id });
      if (after.weight !== undefined && after.weight !== before.weight) this.emit('operator', { change: 'weight', service, id, weight: after.weight });
      if (before.weight !== undefined && after.weight === undefined) this.emit('operator', { change: 'weight-reset', service, id });
    }
    this.lastOverrides = now;
    return records.map((r) => {
      const o = this.operators.get(r.service, r.id);
      return o ? { ...r, ...(o.drained && { state: 'draining' as const }), ...(o.weight !== undefined && { weight: o.weight }) } : r;
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
          const o = this.operators.get(backend, v.node);
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
    if (!this.synced || this.abort.signal.aborted) return;
    const ev = this.view.evaluate();
    this.reportRecords([...ev.rejected, ...this.operators.rejected()], ev.unknownFields);
    this.st.records = ev.records.size;

    let actual = await this.observe();
    if (!actual) return;
    if (!this.adopted) this.adopt(actual, ev.records);
    const records = this.withOverrides([...this.recordsToServe(ev.records).values()]);
    // Slots whose leavers' sessions ended are free before new nodes look for one.
    this.freeLeavers(actual);
    const before = this.placements();
    this.slots.plan(records, this.now());
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
  private adopt(actual: Actual, records: Map<string, NodeRecord>): void {
    const inRotation = actual.servers.filter((a) => (a.admin & 0x01) === 0);
    const known = new Set([...records.values()].map((r) => `${r.service}|${r.address}|${r.port}`));
    const matched = inRotation.filter((a) => known.has(`${a.backend}|${a.address}|${a.port}`)).length;
    if (inRotation.length >= 2 && matched * 2 < inRotation.length) {
      // An emptied etcd met at start: keep what HAProxy serves for a while, as for a list.
      const kept = new Map<string, Placement>();
      for (const a of inRotation) {
        const r: NodeRecord = { id: `${a.server}-held`, service: a.backend, address: a.address, port: a.port, tag: a.server, weight: a.weight, state: 'up', registeredAt: new Date(0).toISOString() };
        kept.set(`held:${a.backend}/${a.server}`, { r, slot: a.server });
      }
      this.hold(`only ${matched} of the ${inRotation.length} servers HAProxy runs are in etcd`, kept);
    }
    this.slots.adopt(actual.servers, [...this.recordsToServe(records).values()], this.now());
    this.adopted = true;
    this.mirrorCoalescer.trigger();
  }

  private settings(): RenderSettings {
    const { frontendBind, statsBind, defaultService, healthCheckPath, adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, connectTimeout, routesMap, routes } = this.c;
    return { frontendBind, statsBind, defaultService, healthCheckPath, adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, connectTimeout, routesMap, routes };
  }

  /** Whether the worker runs structure `id`: it says so, or it cannot (a template without the variable) and we reloaded it for `id`. */
  private runs(actual: Actual, id: string): boolean {
    return actual.structureId === id || (actual.structureId === undefined && this.reloadedId === id);
  }

  /** The leaving slots whose sessions decide when they are free. */
  private leavingQueries(actual?: Actual): SessionQuery[] {
    const ids = new Map(actual?.servers.map((a) => [`${a.backend}/${a.server}`, a.id]));
    const out: SessionQuery[] = [];
    for (const p of this.slots.all()) for (const s of p.slots) if (s.state === 'leaving') out.push({ backend: p.service, server: s.name, id: ids.get(`${p.service}/${s.name}`) });
    return out;
  }

  /** Reads the whole worker (a reconcile's re-reads, every interval). @throws RuntimeError */
  private async read(): Promise<Actual> {
    this.lastActual = await observeWorker(this.deps.runtime, this.leavingQueries(this.lastActual));
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
    for (const r of culprits) {
      const key = `${this.c.prefix}${r.service}/${r.id}`;
      this.quarantine.set(key, { record: JSON.stringify(r), reason: 'haproxy -c refuses its server line' });
      this.emit('rejected', new RecordError(key, `quarantined: haproxy -c refuses its server line (${r.address}:${r.port}); everything else is applied`));
    }
    this.st.quarantined = this.quarantine.size;
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
    const durationMs = this.now() - started;
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
    this.st.lastReconcileAt = new Date(this.now()).toISOString();
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
        if (!a || drained || this.now() - (s.leavingSince ?? 0) >= this.c.leaveMaxMs) {
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

  private reportRecords(rejected: RecordError[], unknown: Map<string, string[]>): void {
    const now = new Map(rejected.map((e) => [e.key, e.reason]));
    for (const e of rejected) if (this.rejections.get(e.key) !== e.reason) this.emit('rejected', e);
    this.rejections.clear();
    for (const [k, v] of now) this.rejections.set(k, v);
    this.st.rejectedRecords = rejected.length;
    for (const [key, fields] of unknown) {
      // Once per key and set of fields: a newer registrar's fields are news once.
      const id = `${key} ${fields.join(',')}`;
      if (this.unknownReported.has(id)) continue;
      if (this.unknownReported.size > 10000) this.unknownReported.clear();
      this.unknownReported.add(id);
      this.emit('rejected', new RecordError(key, `unknown fields ignored: ${fields.join(', ')} (a newer registrar?)`));
    }
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
