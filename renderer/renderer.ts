import { EventEmitter } from 'node:events';
import { readFile, rename, unlink } from 'node:fs/promises';
import pRetry from 'p-retry';
import { type ConfigCheckError, type LeaseholdError, type RecordError, ReloadError, RuntimeError, WriteError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import { Coalescer } from './coalesce.js';
import { writeAtomically, writeDurably } from './files.js';
import type { Haproxy, ReloadResult } from './haproxy.js';
import { type DesiredServer, type Difference, desiredServers, diff, fingerprint } from './reconcile.js';
import { type RenderSettings, type Template, render, structureId } from './render.js';
import type { RuntimeChannel } from './runtime.js';
import { STRUCTURE_VAR, parseServersState, parseStatSessions, parseVar } from './runtime-state.js';
import { carryServerState } from './server-state.js';
import { type ActualServer, type SlotState, SlotTable, type Structure } from './slots.js';
import type { NodeStore, WatchHandle } from './store.js';
import { NodeView } from './view.js';

export interface StoreEvent {
  state: 'synced' | 'broken' | 'unreachable';
  reason: string;
  revision?: string;
  keys?: number;
  error?: Error;
}

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

export type Stage = 'render' | 'write' | 'check' | 'reload' | 'verify' | 'runtime';

export interface RefusedEvent {
  stage: Stage;
  error: LeaseholdError;
}

/** A reconcile that found differences: what it changed, what was drift, what it could not fix. */
export interface ReconciledEvent {
  changed: number;
  /** Differences on servers whose desired state had not changed since they were last verified. */
  drift: number;
  commands: number;
  /** Servers still different after the commands and a re-read. */
  unconverged: number;
  durationMs: number;
}

export interface DriftEvent {
  backend: string;
  server: string;
  node?: string;
  fields: string[];
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
}

export interface RendererConfig extends RenderSettings {
  prefix: string;
  configPath: string;
  coalesceMinMs: number;
  coalesceMaxMs: number;
  resyncIntervalMs: number;
  reconcileIntervalMs: number;
  minSlots: number;
  shrinkAfterMs: number;
  /** Longest a leaving slot waits for its sessions before it may take another node, ms. */
  leaveMaxMs: number;
  /** Quiet time before the config on disk is brought in line with a membership change, ms. */
  mirrorDelayMs: number;
}

export interface RendererDeps {
  store: NodeStore;
  haproxy: Pick<Haproxy, 'check' | 'reload' | 'showProc'>;
  runtime: Pick<RuntimeChannel, 'run'>;
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
}

/** What /health, /status and /metrics show. */
export interface RendererStatus {
  etcd: 'starting' | 'connected' | 'unreachable';
  haproxy: 'unknown' | 'reachable' | 'unreachable';
  revision?: string;
  /** Records admitted, and nodes sitting in a slot (ready or draining). */
  records: number;
  nodes: number;
  /** The structure the store asks for, and whether the running worker has it. */
  structureId?: string;
  structureLive: boolean;
  /** The last reconcile left no difference on servers the worker has. */
  converged: boolean;
  /** Nodes waiting for a structural change (a pool that has not grown yet). */
  pending: number;
  lastReconcileAt?: string;
  reloads: Record<ReloadCause, number>;
  refused: Record<Stage, number>;
  runtime: { sent: number; failed: number; retried: number };
  driftRepaired: number;
  reconcile: { count: number; totalMs: number; lastMs: number };
  rejectedRecords: number;
  slots: { service: string; used: number; total: number }[];
  lastError?: string;
}

interface Actual {
  servers: ActualServer[];
  raw: string;
  structureId?: string;
  /** Sessions (current + queued) of the servers asked about, by `backend/server`. */
  sessions: Map<string, number>;
}

/**
 * The renderer: the store's records in, HAProxy's structure and membership out.
 * - Store: list at R → watch from R+1 → re-list on a broken watch and periodically.
 * - Each pass (serialized, after a coalesced batch or a timer): records → slots → structure
 *   (render, stage, check, rename, reload, verify) only when the structure changed →
 *   membership: desired vs actual (`show servers state`) → commands → re-read → verify.
 * - The config on disk is brought in line with the slots shortly after a membership change.
 * Nothing is fire-and-forget: the reconcile runs again every `reconcileIntervalMs` and repairs
 * whatever differs, so a lost event or a hand-made change costs a delay, never correctness.
 */
export class Renderer extends EventEmitter<RendererEvents> {
  private readonly view: NodeView;
  private readonly slots: SlotTable;
  private readonly coalescer: Coalescer;
  private readonly mirrorCoalescer: Coalescer;
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private readonly timers = new Set<NodeJS.Timeout>();
  private generation = 0;
  private watch?: WatchHandle;
  private resyncing = false;
  private resyncAgain = false;
  private synced = false;
  private adopted = false;
  private passing?: Promise<void>;
  private passAgain = false;
  private mirrorDue = false;
  private followUp?: NodeTimeout;
  /** The text last written as the live config, and the last one `haproxy -c` refused. */
  private written?: string;
  private lastRefused?: string;
  private refusedId?: string;
  private refusedAt = 0;
  /** The structure this renderer last reloaded HAProxy for. */
  private reloadedId?: string;
  private liveStructure?: Structure;
  /** Fingerprint of each server's desired state when it was last verified live. */
  private applied = new Map<string, string>();
  private readonly rejections = new Map<string, string>();
  private readonly st: RendererStatus = {
    etcd: 'starting',
    haproxy: 'unknown',
    records: 0,
    nodes: 0,
    structureLive: false,
    converged: false,
    pending: 0,
    reloads: { services: 0, pool: 0, config: 0 },
    refused: { render: 0, write: 0, check: 0, reload: 0, verify: 0, runtime: 0 },
    runtime: { sent: 0, failed: 0, retried: 0 },
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
    this.view = new NodeView(c.prefix);
    this.slots = new SlotTable({ defaultService: c.defaultService, minSlots: c.minSlots, shrinkAfterMs: c.shrinkAfterMs });
    this.coalescer = new Coalescer(c.coalesceMinMs, c.coalesceMaxMs, () => void this.pass());
    this.mirrorCoalescer = new Coalescer(c.mirrorDelayMs, c.mirrorDelayMs * 5, () => {
      this.mirrorDue = true;
      void this.pass();
    });
    this.now = deps.now ?? Date.now;
  }

  get status(): RendererStatus {
    return structuredClone(this.st);
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
    this.resync('start');
    this.every(this.c.resyncIntervalMs, () => this.resync('periodic'));
    this.every(this.c.reconcileIntervalMs, () => void this.pass());
  }

  /** Stops watching and timers, and waits for the pass under way, at most `timeoutMs`. */
  async stop(timeoutMs = 5000): Promise<boolean> {
    this.abort.abort();
    this.generation++;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.coalescer.cancel();
    this.mirrorCoalescer.cancel();
    const done = (async () => {
      await this.watch?.cancel();
      await this.passing;
    })().then(() => true);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), timeoutMs)));
    const finished = await Promise.race([done, late]);
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
    const t = setInterval(fn, ms);
    this.timers.add(t);
  }

  private later(ms: number, fn: () => void): NodeTimeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  // ---- store: list at R → watch from R+1 ----

  /** Re-lists in the background until it works; never clears the view while etcd is away. */
  private resync(reason: string): void {
    if (this.abort.signal.aborted) return;
    if (this.resyncing) {
      this.resyncAgain = true;
      return;
    }
    this.resyncing = true;
    pRetry(() => this.listAndWatch(reason), {
      forever: true,
      minTimeout: 200,
      maxTimeout: 5000,
      randomize: true,
      signal: this.abort.signal,
      onFailedAttempt: (error) => {
        const first = this.st.etcd !== 'unreachable';
        this.st.etcd = 'unreachable';
        this.st.lastError = error.message;
        if (first || error.attemptNumber % 10 === 0) this.emit('store', { state: 'unreachable', reason, error });
      },
    })
      .catch(() => undefined)
      .finally(() => {
        this.resyncing = false;
        if (this.resyncAgain) {
          this.resyncAgain = false;
          this.resync('retrigger');
        }
      });
  }

  private async listAndWatch(reason: string): Promise<void> {
    const gen = ++this.generation;
    const old = this.watch;
    this.watch = undefined;
    await old?.cancel();
    const snap = await this.deps.store.list(this.c.prefix);
    if (gen !== this.generation) return;
    this.view.reset(snap.kvs);
    this.watch = await this.deps.store.watch(this.c.prefix, snap.revision + 1n, {
      events: (events) => {
        if (gen !== this.generation) return;
        this.view.apply(events);
        this.coalescer.trigger();
      },
      broken: (error) => {
        if (gen !== this.generation) return;
        this.st.etcd = 'unreachable';
        this.st.lastError = error.message;
        this.emit('store', { state: 'broken', reason: 'watch', error });
        this.resync('watch broken');
      },
    });
    if (gen !== this.generation) {
      await this.watch?.cancel();
      return;
    }
    this.synced = true;
    this.st.etcd = 'connected';
    this.st.revision = snap.revision.toString();
    this.emit('store', { state: 'synced', reason, revision: snap.revision.toString(), keys: snap.kvs.length });
    this.coalescer.trigger();
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
    const { records, rejected } = this.view.evaluate();
    this.reportRejections(rejected);
    this.st.records = records.length;

    let actual = await this.observe();
    if (!actual) return;
    if (!this.adopted) {
      // A restarted renderer takes over what the running worker has: no reload, no flap.
      this.slots.adopt(actual.servers, records);
      this.adopted = true;
      this.mirrorCoalescer.trigger();
    }
    // Slots whose leavers' sessions ended are free before new nodes look for one.
    this.freeLeavers(actual);
    const before = this.placements();
    this.slots.plan(records, this.now());
    this.reportNodes(before, this.placements());

    const id = structureId(this.deps.template, this.settings(), this.slots.structure());
    this.st.structureId = id;
    if (!this.runs(actual, id) && (await this.applyStructure(id, actual))) {
      actual = await this.observe();
      if (!actual) return;
      if (!this.runs(actual, id)) {
        const why = actual.structureId === undefined ? `the config sets no ${STRUCTURE_VAR} (a custom template without it?)` : `it runs ${actual.structureId}`;
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
    if (this.slots.all().some((p) => p.slots.some((x) => x.state === 'leaving'))) this.retrySoon(500);
    if (this.mirrorDue && this.st.structureLive) {
      this.mirrorDue = false;
      await this.writeMirror(id);
    }
  }

  /**
   * Whether the worker runs structure `id`: it says so, or it has no say (a template without the
   * variable) and this renderer reloaded it for `id`.
   */
  private runs(actual: Actual, id: string): boolean {
    return actual.structureId === id || (actual.structureId === undefined && this.reloadedId === id);
  }

  private settings(): RenderSettings {
    const { frontendBind, statsBind, defaultService, healthCheckPath, adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, connectTimeout } = this.c;
    return { frontendBind, statsBind, defaultService, healthCheckPath, adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, connectTimeout };
  }

  /**
   * Reads what the running worker has: its servers, its structure id and the sessions of leaving
   * slots. A missing admin socket with a live master means a config without one (a bootstrap
   * config): an empty worker, to be given a real structure.
   */
  private async observe(): Promise<Actual | undefined> {
    const leaving = this.slots.all().filter((p) => p.slots.some((s) => s.state === 'leaving')).map((p) => p.service);
    try {
      const [state, v, ...stats] = await this.deps.runtime.run(['show servers state', `get var ${STRUCTURE_VAR}`, ...leaving.map((b) => `show stat ${b} 4 -1`)]);
      const sessions = new Map<string, number>();
      for (const s of stats) for (const [k, n] of parseStatSessions(s!)) sessions.set(k, n);
      this.haproxyIs('reachable');
      return { servers: parseServersState(state!), raw: state!, structureId: parseVar(v!), sessions };
    } catch (err) {
      const code = ((err as RuntimeError).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ENOENT' || code === 'ECONNREFUSED') {
        const master = await this.deps.haproxy.showProc().catch(() => undefined);
        if (master) {
          this.haproxyIs('reachable');
          return { servers: [], raw: '', sessions: new Map() };
        }
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

  private retrySoon(ms = 1000): void {
    if (this.followUp || this.abort.signal.aborted) return;
    this.followUp = this.later(ms, () => {
      this.followUp = undefined;
      void this.pass();
    });
  }

  // ---- structure: render → skip if unchanged → stage → check → rename → reload → verify ----

  private async applyStructure(id: string, actual: Actual): Promise<boolean> {
    const cause = this.reloadCause();
    let text: string;
    try {
      text = render(this.deps.template, this.slots.all(), this.settings(), id);
    } catch (err) {
      this.refuse('render', err as LeaseholdError);
      return false;
    }
    // A refused structure is not tried again until it changes or a while passes, or every
    // membership change would repeat the refusal (and its log line).
    if (text === this.lastRefused || (id === this.refusedId && this.now() - this.refusedAt < 2 * this.c.reconcileIntervalMs)) return false;
    const staged = `${this.c.configPath}.staged`;
    const checkMs = await this.stageAndCheck(staged, text, actual);
    if (checkMs === undefined) {
      if (this.lastRefused === text) [this.refusedId, this.refusedAt] = [id, this.now()];
      return false;
    }

    const previous = await readFile(this.c.configPath, 'utf8').catch(() => undefined);
    try {
      await rename(staged, this.c.configPath);
    } catch (err) {
      this.refuse('write', new WriteError(`renaming ${staged} failed: ${(err as Error).message}`, { cause: err }));
      this.retrySoon();
      return false;
    }
    let result: ReloadResult;
    try {
      result = await this.deps.haproxy.reload();
    } catch (err) {
      // HAProxy kept its running config: put that back on disk too, then try again shortly.
      if (previous !== undefined) await writeAtomically(this.c.configPath, previous, `${this.c.configPath}.restore`).catch(() => undefined);
      [this.refusedId, this.refusedAt] = [id, this.now()];
      this.refuse('reload', err as LeaseholdError);
      this.retrySoon();
      return false;
    }
    this.written = text;
    this.lastRefused = this.refusedId = undefined;
    this.reloadedId = id;
    this.slots.reloaded();
    this.st.reloads[cause]++;
    this.emit('reload', { ...result, cause, structureId: id, slots: this.slots.all().reduce((n, p) => n + p.slots.length, 0), bytes: Buffer.byteLength(text), checkMs });
    return true;
  }

  /** Writes the staged config and the state file, then `haproxy -c`; returns the check's ms. */
  private async stageAndCheck(staged: string, text: string, actual: Actual): Promise<number | undefined> {
    try {
      await writeDurably(staged, text);
      // Before the check, so the file the config names exists when HAProxy reads it.
      await writeAtomically(this.c.stateFile, carryServerState(actual.raw, desiredServers(this.slots.all())));
    } catch (err) {
      this.refuse('write', err as WriteError);
      this.retrySoon();
      return undefined;
    }
    const started = this.now();
    try {
      await this.deps.haproxy.check(staged);
      return this.now() - started;
    } catch (err) {
      await unlink(staged).catch(() => undefined);
      this.lastRefused = text;
      this.refuse('check', err as ConfigCheckError);
      return undefined;
    }
  }

  private reloadCause(): ReloadCause {
    const now = this.slots.structure();
    const was = this.liveStructure;
    if (!was) return 'config';
    const names = (s: Structure) => s.services.map((x) => x.name).join(',');
    if (names(now) !== names(was)) return 'services';
    return JSON.stringify(now) !== JSON.stringify(was) ? 'pool' : 'config';
  }

  /** Brings the config on disk in line with the slots (no reload): a restart comes up the same. */
  private async writeMirror(id: string): Promise<void> {
    let text: string;
    try {
      text = render(this.deps.template, this.slots.all(), this.settings(), id);
    } catch (err) {
      return this.refuse('render', err as LeaseholdError);
    }
    if (text === this.written || text === this.lastRefused) return;
    const actual = await this.observe();
    if (!actual) return;
    const staged = `${this.c.configPath}.staged`;
    const checkMs = await this.stageAndCheck(staged, text, actual);
    if (checkMs === undefined) return;
    try {
      await rename(staged, this.c.configPath);
    } catch (err) {
      this.refuse('write', new WriteError(`renaming ${staged} failed: ${(err as Error).message}`, { cause: err }));
      this.mirrorCoalescer.trigger();
      return;
    }
    this.written = text;
    this.emit('mirror', { bytes: Buffer.byteLength(text), checkMs });
  }

  // ---- membership: desired vs actual → commands → re-read → verify ----

  private async reconcile(actual: Actual): Promise<void> {
    const started = this.now();
    const desired = desiredServers(this.slots.all());
    const first = diff(desired, actual.servers);
    let unconverged: Difference[] = [];
    this.st.pending = first.missing.filter((d) => d.admin !== 'maint').length;
    if (first.differences.length) {
      let drift = 0;
      for (const x of first.differences) {
        if (this.applied.get(serverKey(x.desired)) !== fingerprint(x.desired)) continue;
        drift++;
        this.emit('drift', { backend: x.desired.backend, server: x.desired.server, node: x.desired.node, fields: x.fields });
      }
      this.st.driftRepaired += drift;
      const commands = first.differences.flatMap((x) => x.commands);
      try {
        await this.deps.runtime.run(commands);
      } catch (err) {
        this.haproxyIs('unreachable', err as RuntimeError);
        this.retrySoon();
        return;
      }
      const after = await this.observe();
      if (!after) return;
      unconverged = diff(desired, after.servers).differences;
      actual.servers = after.servers;
      const durationMs = this.now() - started;
      this.emit('reconciled', { changed: first.differences.length - unconverged.length, drift, commands: commands.length, unconverged: unconverged.length, durationMs });
      this.mirrorCoalescer.trigger();
    }
    const bad = new Set(unconverged.map((x) => serverKey(x.desired)));
    const have = new Set(actual.servers.map((a) => `${a.backend}/${a.server}`));
    this.applied = new Map(desired.filter((d) => have.has(serverKey(d)) && !bad.has(serverKey(d))).map((d) => [serverKey(d), fingerprint(d)]));
    this.st.converged = unconverged.length === 0;
    if (unconverged.length) {
      this.st.lastError = `${unconverged.length} server(s) still differ from the store after reconcile, first ${serverKey(unconverged[0]!.desired)} (${unconverged[0]!.fields.join(',')})`;
      this.retrySoon();
    }
    const ms = this.now() - started;
    this.st.reconcile.count++;
    this.st.reconcile.totalMs += ms;
    this.st.reconcile.lastMs = ms;
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
  }

  // ---- reports ----

  private refuse(stage: Stage, error: LeaseholdError): void {
    this.st.refused[stage]++;
    this.st.lastError = error.message;
    this.emit('refused', { stage, error });
  }

  private reportRejections(rejected: RecordError[]): void {
    const now = new Map(rejected.map((e) => [e.key, e.reason]));
    for (const e of rejected) if (this.rejections.get(e.key) !== e.reason) this.emit('rejected', e);
    this.rejections.clear();
    for (const [k, v] of now) this.rejections.set(k, v);
    this.st.rejectedRecords = rejected.length;
  }

  /** Nodes in a slot (ready or draining), by `service/id`. */
  private placements(): Map<string, { r: NodeRecord; slot: string }> {
    const out = new Map<string, { r: NodeRecord; slot: string }>();
    for (const p of this.slots.all()) {
      for (const s of p.slots) if ((s.state === 'ready' || s.state === 'drain') && s.node) out.set(`${p.service}/${s.node.id}`, { r: s.node, slot: s.name });
    }
    return out;
  }

  private reportNodes(before: Map<string, { r: NodeRecord; slot: string }>, after: Map<string, { r: NodeRecord; slot: string }>): void {
    const ev = (change: NodeChange['change'], { r, slot }: { r: NodeRecord; slot: string }) =>
      this.emit('node', { change, service: r.service, id: r.id, address: r.address, port: r.port, weight: r.weight, state: r.state, slot });
    for (const [k, v] of before) if (!after.has(k)) ev('left', v);
    for (const [k, v] of after) {
      const old = before.get(k)?.r;
      if (!old) ev('joined', v);
      else if (old.address !== v.r.address || old.port !== v.r.port || old.weight !== v.r.weight || old.state !== v.r.state || old.tag !== v.r.tag) ev('changed', v);
    }
  }
}

type NodeTimeout = NodeJS.Timeout;

const serverKey = (d: DesiredServer) => `${d.backend}/${d.server}`;
