import { EventEmitter } from 'node:events';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import pRetry from 'p-retry';
import type { ConfigCheckError, LeaseholdError, RecordError } from '../common/errors.js';
import { type NodeRecord, parseRecord, recordKey } from '../common/record.js';
import { Coalescer } from './coalesce.js';
import { carryServerState } from './server-state.js';
import type { Haproxy, ReloadResult } from './haproxy.js';
import { type RenderSettings, SERVER_CHECK, type Template, hostport, render } from './render.js';
import type { NodeStore, WatchEvent, WatchHandle } from './store.js';
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
  state: NodeRecord['state'];
}

export interface AppliedEvent extends ReloadResult {
  servers: number;
  bytes: number;
  /** Whole pass: evaluate, render, stage, check, rename, reload, verify. */
  passMs: number;
  checkMs: number;
}

export interface RefusedEvent {
  stage: 'render' | 'check' | 'reload';
  error: LeaseholdError | ConfigCheckError;
}

export interface RendererEvents {
  store: [StoreEvent];
  rejected: [RecordError];
  node: [NodeChange];
  applied: [AppliedEvent];
  refused: [RefusedEvent];
  runtime: [RuntimeEvent];
}

/** A fast-path change made on the running worker through the runtime API. */
export interface RuntimeEvent {
  change: 'joined' | 'left';
  service: string;
  id: string;
  ok: boolean;
  error?: string;
}

export interface RendererConfig extends RenderSettings {
  prefix: string;
  configPath: string;
  coalesceMinMs: number;
  coalesceMaxMs: number;
  resyncIntervalMs: number;
  /** Apply joins and leaves on the running worker at once (see runtimeUpdates). */
  runtimeUpdates: boolean;
}

export interface RendererDeps {
  store: NodeStore;
  haproxy: Pick<Haproxy, 'check' | 'reload' | 'command'>;
  template: Template;
  now?: () => number;
}

/** What /health and /metrics show. */
export interface RendererStatus {
  etcd: 'starting' | 'connected' | 'unreachable';
  revision?: string;
  nodes: number;
  lastAppliedAt?: string;
  reloads: number;
  refused: { render: number; check: number; reload: number };
  rejectedRecords: number;
  lastError?: string;
}

/**
 * The renderer pipeline: list at R → watch from R+1 → coalesce → validate → render → skip if
 * unchanged → stage → haproxy -c → rename → reload → verify. Passes are serialized; a broken
 * watch, or the periodic resync, re-lists everything. A failure at any step leaves the last
 * good config serving.
 */
export class Renderer extends EventEmitter<RendererEvents> {
  private readonly view: NodeView;
  private readonly coalescer: Coalescer;
  private readonly abort = new AbortController();
  private readonly now: () => number;
  private generation = 0;
  private watch?: WatchHandle;
  private resyncing = false;
  private resyncAgain = false;
  private resyncTimer?: NodeJS.Timeout;
  private retryTimer?: NodeJS.Timeout;
  private passing?: Promise<void>;
  private passAgain = false;
  /** Config text HAProxy runs, once this renderer has applied one. */
  private live?: string;
  /** Live records by etcd key, and the services that have a backend in the live config. */
  private liveRecords = new Map<string, NodeRecord>();
  private liveServices = new Set<string>();
  private lastRefused?: string;
  private readonly rejections = new Map<string, string>();
  private readonly st: RendererStatus = { etcd: 'starting', nodes: 0, reloads: 0, refused: { render: 0, check: 0, reload: 0 }, rejectedRecords: 0 };

  constructor(
    private readonly c: RendererConfig,
    private readonly deps: RendererDeps,
  ) {
    super();
    this.view = new NodeView(c.prefix);
    this.coalescer = new Coalescer(c.coalesceMinMs, c.coalesceMaxMs, () => void this.pass());
    this.now = deps.now ?? Date.now;
  }

  get status(): RendererStatus {
    return { ...this.st, refused: { ...this.st.refused } };
  }

  /** Lists, watches and renders until stopped; retries etcd in the background. */
  start(): void {
    this.resync('start');
    this.resyncTimer = setInterval(() => this.resync('periodic'), this.c.resyncIntervalMs);
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.generation++;
    clearInterval(this.resyncTimer);
    clearTimeout(this.retryTimer);
    this.coalescer.cancel();
    await this.watch?.cancel();
    await this.passing;
  }

  /** Waits for the pass under way, if any (tests and benchmarks). */
  async idle(): Promise<void> {
    while (this.passing || this.coalescer.pending) {
      await (this.passing ?? new Promise((r) => setTimeout(r, 5)));
    }
  }

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
        this.runtimeUpdates(events);
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
    this.st.etcd = 'connected';
    this.st.revision = snap.revision.toString();
    this.emit('store', { state: 'synced', reason, revision: snap.revision.toString(), keys: snap.kvs.length });
    this.coalescer.trigger();
  }

  /**
   * The fast path, before the coalesced reload that makes it permanent: through the master CLI,
   * a node that left is put in maintenance on the running worker, and a node that joined is
   * added as a dynamic server (HAProxy 2.6 takes no `cookie` there, so stickiness to a new node
   * starts with the reload).
   */
  private runtimeUpdates(events: WatchEvent[]): void {
    if (!this.c.runtimeUpdates || this.live === undefined) return;
    for (const e of events) {
      const live = this.liveRecords.get(e.key);
      if (e.type === 'delete' && live) {
        this.runtime('left', live, [`set server ${live.service}/${live.id} state maint`]);
      } else if (e.type === 'put' && !live) {
        let r: NodeRecord;
        try {
          r = parseRecord(this.c.prefix, e.key, e.value);
        } catch {
          continue; // the pass reports it
        }
        if (r.state !== 'up' || !this.liveServices.has(r.service)) continue;
        const name = `${r.service}/${r.id}`;
        this.runtime('joined', r, [
          `add server ${name} ${hostport(r.address, r.port)} weight ${r.weight} ${SERVER_CHECK}`,
          `enable health ${name}`,
          `enable server ${name}`,
        ]);
      }
    }
  }

  private runtime(change: RuntimeEvent['change'], r: NodeRecord, commands: string[]): void {
    const base = { change, service: r.service, id: r.id };
    this.deps.haproxy
      .command(commands.map((c) => `@1 ${c}`).join('; '))
      .then((out) => {
        const bad = out.split('\n').filter((l) => l.trim() && !/New server registered/.test(l));
        this.emit('runtime', bad.length ? { ...base, ok: false, error: bad.join(' ') } : { ...base, ok: true });
      })
      .catch((error: Error) => this.emit('runtime', { ...base, ok: false, error: error.message }));
  }

  /** One pass at a time; changes that arrive meanwhile get one more pass. */
  private pass(): Promise<void> {
    if (this.passing) {
      this.passAgain = true;
      return this.passing;
    }
    this.passing = (async () => {
      do {
        this.passAgain = false;
        await this.applyOnce();
      } while (this.passAgain && !this.abort.signal.aborted);
    })().finally(() => {
      this.passing = undefined;
    });
    return this.passing;
  }

  private async applyOnce(): Promise<void> {
    const started = this.now();
    const { records, rejected } = this.view.evaluate();
    this.reportRejections(rejected);

    let text: string;
    try {
      text = render(this.deps.template, records, this.c);
    } catch (err) {
      return this.refuse('render', err as LeaseholdError, undefined);
    }
    if (text === this.live || text === this.lastRefused) return;

    const staged = `${this.c.configPath}.staged`;
    await writeFile(staged, text);
    // Before the check, so the file the config names exists when HAProxy reads it.
    await this.saveServerState(records);
    const checkStarted = this.now();
    try {
      await this.deps.haproxy.check(staged);
    } catch (err) {
      await unlink(staged).catch(() => undefined);
      return this.refuse('check', err as ConfigCheckError, text);
    }
    const checkMs = this.now() - checkStarted;
    const previous = await readFile(this.c.configPath, 'utf8').catch(() => undefined);
    await rename(staged, this.c.configPath);

    let result: ReloadResult;
    try {
      result = await this.deps.haproxy.reload();
    } catch (err) {
      // HAProxy kept its running config: put that back on disk too, then try again shortly.
      if (previous !== undefined) await this.writeAtomically(previous);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.coalescer.trigger(), 1000);
      return this.refuse('reload', err as LeaseholdError, undefined);
    }

    const next = new Map(records.map((r) => [recordKey(this.c.prefix, r.service, r.id), r]));
    this.reportNodes(this.liveRecords, next);
    this.live = text;
    this.liveRecords = next;
    this.liveServices = new Set([this.c.defaultService, ...records.map((r) => r.service)]);
    this.lastRefused = undefined;
    this.st.nodes = records.length;
    this.st.reloads++;
    this.st.lastAppliedAt = new Date(this.now()).toISOString();
    this.emit('applied', { ...result, servers: records.length, bytes: Buffer.byteLength(text), passMs: this.now() - started, checkMs });
  }

  /** Hands the running worker's view of server health to the next one (see carryServerState). */
  private async saveServerState(next: NodeRecord[]): Promise<void> {
    let dump = '';
    try {
      dump = await this.deps.haproxy.command('@1 show servers state');
    } catch {
      // No worker to ask (HAProxy starting): the new worker starts from the config alone.
    }
    const tmp = `${this.c.stateFile}.tmp`;
    await writeFile(tmp, carryServerState(dump, next));
    await rename(tmp, this.c.stateFile);
  }

  private async writeAtomically(text: string): Promise<void> {
    const tmp = `${this.c.configPath}.restore`;
    await writeFile(tmp, text);
    await rename(tmp, this.c.configPath);
  }

  private refuse(stage: RefusedEvent['stage'], error: LeaseholdError, text: string | undefined): void {
    // The same bytes are not re-checked until something changes, or the log would repeat them.
    if (text !== undefined) this.lastRefused = text;
    this.st.refused[stage]++;
    this.st.lastError = error.message;
    this.emit('refused', { stage, error });
  }

  private reportRejections(rejected: RecordError[]): void {
    const now = new Map(rejected.map((e) => [e.key, e.reason]));
    for (const e of rejected) {
      if (this.rejections.get(e.key) !== e.reason) this.emit('rejected', e);
    }
    this.rejections.clear();
    for (const [k, v] of now) this.rejections.set(k, v);
    this.st.rejectedRecords = rejected.length;
  }

  private reportNodes(before: Map<string, NodeRecord>, after: Map<string, NodeRecord>): void {
    const ev = (change: NodeChange['change'], r: NodeRecord) =>
      this.emit('node', { change, service: r.service, id: r.id, address: r.address, port: r.port, state: r.state });
    for (const [k, r] of before) if (!after.has(k)) ev('left', r);
    for (const [k, r] of after) {
      const old = before.get(k);
      if (!old) ev('joined', r);
      else if (old.address !== r.address || old.port !== r.port || old.weight !== r.weight || old.state !== r.state || old.tag !== r.tag) ev('changed', r);
    }
  }
}
