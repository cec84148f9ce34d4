// One robustness run: a real etcd, a real HAProxy, the renderer and webapps with their
// registrars as processes, a seeded schedule of faults, and the invariants checked throughout.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parseRecord } from '../../common/record.js';
import { createEtcdGateway, type EtcdGateway } from '../../common/etcd-gateway.js';
import { httpStatus } from '../../common/http.js';
import { registrarOptionsFromEnv } from '../../registrar/options.js';
import { Registrar } from '../../registrar/registrar.js';
import { TestEtcd } from '../../harness/etcd.js';
import { TestHaproxy } from '../../harness/haproxy.js';
import { get, inRotation, type ServerRow } from '../../harness/http.js';
import { type LoadResult, type Sample, startLoad } from '../../harness/load.js';
import { freePort } from '../../harness/ports.js';
import { type Proc, node } from '../../harness/process.js';
import { FAULT_KINDS, type FaultSpec, HOSTILE_PORT_BASE, type HostileRecord, SteppingClock, hostileRecord, makeSchedule } from './robustness.js';
import { startApp } from '../../harness/stack.js';
import { sleep, waitFor } from '../../harness/wait.js';

/** Invariant 1: a live node is in rotation (UP) this long after the last fault touching it. */
export const IN_ROTATION_BOUND_MS = 10000;
/** Invariant 3b: a graceful leave is out of rotation this long after SIGTERM (etcd and the renderer up). */
export const LEAVE_BOUND_MS = 3000;
/** Invariant 4: HAProxy == etcd == the live nodes this long after the last fault ended. */
export const CONVERGE_BOUND_MS = 25000;
/** Fail static and a suspicious list hold this long here (60 s and 15 s by default). */
const FAIL_STATIC_MAX_MS = 6000;
const HOLD_MS = 5000;
/** A node is "passing" for invariant 2 once no fault has touched it for this long (HAProxy: inter 1 s, timeout check 2 s). */
const QUIET_BEFORE_MS = 3000;
const POLL_MS = 250;
const MONITOR_MAX_MS = 300000;
/**
 * Several servers dying together (SIGKILL, or apps gone before the LB took them out) can fail a
 * request that HAProxy retries and redispatches: a dead server's mark-down (at its first failed
 * connect) is applied after the retry may already have picked it again, so all 4 attempts can meet
 * dead servers. HAProxy then logs `503 SCNN +3` and, for a keep-alive request that is not the
 * connection's first, closes the connection without an answer (the client may retry). Seen with 3
 * of 4 nodes killed (2-3 failed GETs of 3,200 in 8 rounds); not with 2 of 4 nor 1 of 3 (as the
 * compose chaos test asserts), but two dead servers picked twice suffice. So failures within
 * DEATH_WINDOW_MS of 2 or more servers dying are counted apart; a single crash stays strict.
 */
const TOGETHER = 2;
const DEATH_WINDOW_MS = 3000;
/** The sample app's DRAIN_MS (stack.ts): how long a stopped app still answers. */
const APP_DRAIN_MS = 500;
const MAX_PROCESS_NODES = 7;

type Status = 'joining' | 'live' | 'leaving' | 'crashed';

interface Node {
  tag: string;
  port: number;
  addr: string;
  kind: 'process' | 'clock';
  app: Proc;
  registrar?: Proc;
  inproc?: { reg: Registrar; clock: SteppingClock; store: EtcdGateway; registrations: number };
  status: Status;
  liveAt?: number;
  firstUpAt?: number;
  /** Intervals a fault touched it ([from, to, kind], to Infinity while it runs or after it left). */
  touched: [number, number, string][];
  sigtermAt?: number;
  crashedAt?: number;
  removedSeenAt?: number;
  reported?: boolean;
}

interface Snapshot {
  t0: number;
  t1: number;
  rows: ServerRow[];
  up: Set<string>;
  rotation: Map<string, string>;
}

export interface Violation {
  invariant: string;
  at: number;
  detail: string;
}

export interface LoadFigures {
  sent: number;
  failed: number;
  /** Failed while no node passed HAProxy's checks. */
  noNodePassing: number;
  /** Failed within DEATH_WINDOW_MS of TOGETHER or more servers dying. */
  deathWindow: number;
  p50: number;
  p99: number;
}

export interface RunReport {
  seed: number;
  durationMs: number;
  faults: Record<string, { run: number; skipped: number }>;
  checks: Record<string, number>;
  requests: LoadFigures;
  leaveLatencyMs: number[];
  /** The renderers' fail-static events, by change (held, returned, released), in nodes. */
  failStatic: Record<string, number>;
  convergedAfterMs?: number;
  violations: Violation[];
  logPath?: string;
}

const sameSet = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));
const hostPort = (ip: string, port: number | string) => `${ip}:${port}`;
/** Stats addresses print IPv6 bare or bracketed depending on the version: compare without brackets. */
const bare = (addr: string) => addr.replace(/^\[(.*)\](:\d+)$/, '$1$2');

export class RobustnessRun {
  readonly t0 = Date.now();
  readonly timeline: { t: number; what: string; [k: string]: unknown }[] = [];
  readonly violations: Violation[] = [];
  readonly checks: Record<string, number> = { '1 live node in rotation': 0, '2 request judged': 0, '3 no request after a graceful removal': 0, '3b graceful leave applied at once': 0, '4 converged': 0, '5 hostile record absent': 0, '6 clock step kept the lease': 0, '7 no reload': 0 };
  readonly faults: Record<string, { run: number; skipped: number }> = Object.fromEntries(FAULT_KINDS.map((k) => [k, { run: 0, skipped: 0 }]));
  readonly nodes: Node[] = [];
  readonly hostile: HostileRecord[] = [];
  readonly snapshots: Snapshot[] = [];
  /** Windows when etcd or the renderer was away: [from, to]. */
  readonly globalFaults: [number, number, string][] = [];
  readonly renderers: Proc[] = [];
  readonly schedule: FaultSpec[];
  etcd!: TestEtcd;
  ha!: TestHaproxy;
  renderer!: Proc;
  healthPort = 0;
  env: Record<string, string> = {};
  private nextTag = 0;
  private hostileN = 0;
  private monitoring = false;
  private monitorDone?: Promise<void>;
  private globalBusy?: Promise<void>;
  private pending = new Set<Promise<void>>();
  private reloadsAtStart = 0;
  private readonly reportedOnce = new Set<string>();
  private loads: { start: number; load: ReturnType<typeof startLoad>; name: string }[] = [];
  private loadResults: { start: number; name: string; r: LoadResult }[] = [];

  constructor(readonly seed: number, readonly faultPhaseMs: number) {
    this.schedule = makeSchedule(seed, faultPhaseMs);
  }

  now = () => Date.now() - this.t0;

  note(what: string, fields: Record<string, unknown> = {}): void {
    this.timeline.push({ t: this.now(), what, ...fields });
  }

  /** `once`: a key reported before is not reported again (a state seen at every poll). */
  violate(invariant: string, detail: string, once?: string): void {
    if (once !== undefined) {
      if (this.reportedOnce.has(once)) return;
      this.reportedOnce.add(once);
    }
    this.violations.push({ invariant, at: this.now(), detail });
    this.note('VIOLATION', { invariant, detail });
  }

  // ---------------------------------------------------------------- the stack

  async start(): Promise<void> {
    this.etcd = await TestEtcd.start();
    this.ha = await TestHaproxy.start();
    this.healthPort = await freePort();
    this.env = {
      ETCD_ENDPOINTS: this.etcd.endpoint,
      ...this.ha.rendererEnv(),
      RENDERER_HEALTH_PORT: String(this.healthPort),
      RECONCILE_INTERVAL_MS: '1000',
      // Everything is on 127.0.0.1 here; only loopback may be a node, so any other address is hostile.
      ALLOW_LOCAL_NODES: '1',
      ALLOWED_NETWORKS: '127.0.0.0/8',
      FAIL_STATIC_MAX_MS: String(FAIL_STATIC_MAX_MS),
      HOLD_MS: String(HOLD_MS),
      // Room for every node, leaver and held node: membership never needs a reload.
      MIN_SLOTS: '32',
    };
    this.startRenderer();
    await this.startClockNode();
    for (let i = 0; i < 5; i++) this.startProcessNode();
    this.monitoring = true;
    this.monitorDone = this.monitor();
    await waitFor(() => this.nodes.every((n) => n.firstUpAt !== undefined), 'every first node UP in HAProxy', 30000, 100);
    await waitFor(async () => (await get(`http://127.0.0.1:${this.healthPort}/health`)).status === 200, 'renderer healthy', 15000, 100);
    this.reloadsAtStart = (await this.ha.control.showProc()).reloads;
    this.note('stack up', { nodes: this.nodes.map((n) => n.tag), reloads: this.reloadsAtStart });
  }

  private startRenderer(): void {
    this.renderer = node('renderer', 'renderer/main.js', this.env);
    this.renderers.push(this.renderer);
  }

  private startProcessNode(): void {
    const tag = `p${this.nextTag++}`;
    // startApp is async only for its port; the node is tracked as soon as it exists.
    const p = startApp(tag, this.etcd.endpoint).then((a) => {
      this.nodes.push({ tag, port: a.port, addr: hostPort('127.0.0.1', a.port), kind: 'process', app: a.app, registrar: a.registrar, status: 'joining', touched: [] });
      this.note('join', { tag, port: a.port });
    });
    this.track(p);
  }

  /** A webapp process with its registrar in this process, on a clock whose wall time the test steps. */
  private async startClockNode(): Promise<void> {
    const tag = `c${this.nextTag++}`;
    const port = await freePort();
    const app = node(`app ${tag}`, 'images/webapp/server.js', { PORT: String(port), TAG: tag, DRAIN_MS: '500' });
    const o = registrarOptionsFromEnv({ ETCD_ENDPOINTS: this.etcd.endpoint, PORT: String(port), NODE_ID: tag, TAG: tag, ADVERTISE_ADDRESS: '127.0.0.1', REGISTRAR_HEALTH_PORT: '0', LEASE_TTL: '2', CHECK_INTERVAL_MS: '200' }, tag);
    const clock = new SteppingClock();
    const store = await createEtcdGateway(o.etcd);
    const reg = new Registrar(o, {
      store,
      clock,
      appHealthy: async (signal) => {
        const s = await httpStatus(o.healthUrl, o.checkTimeoutMs, signal);
        return s >= 200 && s < 300;
      },
      ownAddress: () => '127.0.0.1',
    });
    const n: Node = { tag, port, addr: hostPort('127.0.0.1', port), kind: 'clock', app, inproc: { reg, clock, store, registrations: 0 }, status: 'joining', touched: [] };
    reg.on('state', (e) => {
      if (e.state === 'registered') n.inproc!.registrations++;
      this.note('clock node state', { tag, state: e.state, previous: e.previous, reason: e.reason, lease: e.leaseId });
    });
    reg.start();
    this.nodes.push(n);
    this.note('join', { tag, port, clock: true });
  }

  private track(p: Promise<void>): void {
    const q = p.catch((err) => this.note('fault error', { err: (err as Error).message })).finally(() => this.pending.delete(q));
    this.pending.add(q);
  }

  // ---------------------------------------------------------------- the monitor

  private registered(n: Node): boolean {
    if (n.inproc) return n.inproc.reg.state === 'registered';
    return n.registrar!.events().some((e) => e.event === 'state' && e.state === 'registered');
  }

  private async monitor(): Promise<void> {
    let lastConfigCheck = 0;
    // Bounded even if a teardown never comes.
    while (this.monitoring && this.now() < MONITOR_MAX_MS) {
      const t0 = this.now();
      let rows: ServerRow[];
      try {
        rows = (await this.ha.servers()).filter((r) => r.backend === 'webapp' || r.backend === 'admin');
      } catch (err) {
        this.note('stats poll failed', { err: (err as Error).message });
        await sleep(POLL_MS);
        continue;
      }
      const t1 = this.now();
      const rotation = new Map(rows.filter(inRotation).map((r) => [bare(r.addr), r.status]));
      const up = new Set([...rotation].filter(([, s]) => s.startsWith('UP')).map(([a]) => a));
      const snap: Snapshot = { t0, t1, rows, up, rotation };
      this.snapshots.push(snap);
      this.checkSnapshot(snap);
      if (t1 - lastConfigCheck >= 1000) {
        lastConfigCheck = t1;
        this.checkConfig();
      }
      await sleep(Math.max(0, POLL_MS - (this.now() - t0)));
    }
  }

  /**
   * When the last etcd or renderer restart that could delay `n` ended: one that began before HAProxy
   * first had it UP. Once UP, a node stays UP through them (HAProxy serves on; the renderer adopts
   * and re-lists; the lease outlives an etcd restart).
   */
  private globalEndFor(n: Node): number {
    return Math.max(0, ...this.globalFaults.filter(([from]) => n.firstUpAt === undefined || from <= n.firstUpAt).map(([, to]) => to));
  }

  private checkSnapshot(s: Snapshot): void {
    for (const n of this.nodes) {
      if (n.status === 'joining' && this.registered(n)) {
        n.status = 'live';
        n.liveAt = s.t0;
        this.note('registered', { tag: n.tag });
      }
      if (n.status === 'live' && n.firstUpAt === undefined && s.up.has(n.addr)) n.firstUpAt = s.t1;
      // 1. Every live node is UP within the bound after whatever last touched it.
      if (n.status === 'live') {
        const touchedTo = Math.max(0, ...n.touched.map(([, to]) => to));
        const globalEnd = this.globalEndFor(n);
        const since = Math.max(n.liveAt!, touchedTo, globalEnd);
        if (s.t0 - since > IN_ROTATION_BOUND_MS) {
          this.checks['1 live node in rotation']!++;
          if (!s.up.has(n.addr) && !n.reported) {
            n.reported = true;
            this.violate('1 live node in rotation', `${n.tag} (${n.addr}) is ${s.rotation.get(n.addr) ?? 'not in rotation'} ${s.t0 - since} ms after it was last touched (registered at ${n.liveAt}, last fault ${touchedTo}, last etcd/renderer fault ${globalEnd})`);
          }
        }
      }
      // 3. The graceful removal applied: seen out of rotation once after the SIGTERM.
      if (n.status === 'leaving' && n.removedSeenAt === undefined && s.t0 >= n.sigtermAt! && !s.rotation.has(n.addr)) {
        n.removedSeenAt = s.t1;
        const latency = s.t1 - n.sigtermAt!;
        this.note('removal seen', { tag: n.tag, afterMs: latency, row: s.rows.find((r) => bare(r.addr) === n.addr)?.status ?? 'none' });
        const disturbed = this.globalFaults.some(([from, to]) => from <= n.sigtermAt! + LEAVE_BOUND_MS && to + 1000 >= n.sigtermAt!);
        if (!disturbed) {
          this.checks['3b graceful leave applied at once']!++;
          this.leaveLatency.push(latency);
          if (s.t0 - n.sigtermAt! > LEAVE_BOUND_MS) this.violate('3b graceful leave applied at once', `${n.tag} left rotation ${latency} ms after SIGTERM (etcd and renderer up)`);
        }
      }
      if (n.status === 'leaving' && n.removedSeenAt === undefined && s.t0 - n.sigtermAt! > LEAVE_BOUND_MS && !n.reported) {
        const disturbed = this.globalFaults.some(([from, to]) => from <= n.sigtermAt! + LEAVE_BOUND_MS && to + 1000 >= n.sigtermAt!);
        if (!disturbed && s.rotation.get(n.addr)?.startsWith('UP')) {
          n.reported = true;
          this.violate('3b graceful leave applied at once', `${n.tag} still ${s.rotation.get(n.addr)} ${s.t0 - n.sigtermAt!} ms after SIGTERM (etcd and renderer up)`);
        }
      }
    }
    // 5. No hostile record's address in any slot.
    for (const h of this.hostile) {
      this.checks['5 hostile record absent']!++;
      for (const r of s.rows) {
        if (h.addrs.includes(bare(r.addr))) this.violate('5 hostile record absent', `${h.what} (${JSON.stringify(h.key.slice(0, 80))}) is in HAProxy: ${r.server} ${r.addr} ${r.status}`, `5 stats ${h.key}`);
      }
    }
    for (const r of s.rows) {
      const port = Number(/:(\d+)$/.exec(r.addr)?.[1]);
      if (port >= HOSTILE_PORT_BASE && port < HOSTILE_PORT_BASE + 100 && inRotation(r)) this.violate('5 hostile record absent', `a slot points at the hostile port range: ${r.server} ${r.addr} ${r.status}`, `5 port ${r.addr}`);
    }
  }

  readonly leaveLatency: number[] = [];

  /** 5, in the config on disk: no server line at a hostile address, no hostile id in a comment. */
  private checkConfig(): void {
    let cfg: string;
    try {
      cfg = readFileSync(this.ha.configPath, 'utf8');
    } catch {
      return;
    }
    const servers = [...cfg.matchAll(/^\s*server\s+(\S+)\s+(\S+)(.*)$/gm)].map((m) => ({ name: m[1]!, addr: bare(m[2]!), rest: m[3]! }));
    for (const h of this.hostile) {
      this.checks['5 hostile record absent']!++;
      for (const s of servers) {
        if (h.addrs.includes(s.addr) || h.ids.some((id) => new RegExp(`# webapp/${id}\\b`).test(s.rest))) this.violate('5 hostile record absent', `${h.what} is in the config on disk: server ${s.name} ${s.addr}${s.rest}`, `5 config ${h.key}`);
      }
    }
  }

  // ---------------------------------------------------------------- the faults

  /** Runs the schedule under load; every fault is awaited before it returns. */
  async runFaults(): Promise<void> {
    const loadBound = { maxSeconds: Math.ceil(this.faultPhaseMs / 1000) + 60 };
    const start = Date.now();
    this.loads.push({ start, name: 'keep-alive GET', load: startLoad(this.ha.url, { rps: 40, clients: 8, ...loadBound }) });
    this.loads.push({ start, name: 'fresh-connection GET', load: startLoad(this.ha.url, { rps: 10, clients: 4, mode: 'fresh', ...loadBound }) });
    const phase = this.now();
    this.note('faults start');
    for (const f of this.schedule) {
      await sleep(Math.max(0, phase + f.at - this.now()));
      this.track(this.fault(f));
    }
    while (this.pending.size) await Promise.all([...this.pending]);
    this.note('faults end');
  }

  private skip(f: FaultSpec, why: string): void {
    this.faults[f.kind]!.skipped++;
    this.note('skipped', { n: f.n, kind: f.kind, why });
  }

  private ran(f: FaultSpec, fields: Record<string, unknown>): void {
    this.faults[f.kind]!.run++;
    this.note('fault', { n: f.n, kind: f.kind, ...f.params, ...fields });
  }

  /** Live nodes that HAProxy has served and no fault is touching now, sorted by tag. */
  private eligible(kind?: 'process' | 'clock'): Node[] {
    const now = this.now();
    return this.nodes
      .filter((n) => n.status === 'live' && n.firstUpAt !== undefined && (!kind || n.kind === kind) && !n.touched.some(([, to]) => to > now))
      .sort((a, b) => a.tag.localeCompare(b.tag));
  }

  private pickFrom(list: Node[], pick: number, count = 1): Node[] {
    const out: Node[] = [];
    const rest = [...list];
    let p = pick;
    while (out.length < count && rest.length) {
      const i = Math.floor(p * rest.length);
      out.push(rest.splice(i, 1)[0]!);
      p = (p * 7.31) % 1;
    }
    return out;
  }

  /**
   * The process nodes free for a crash or a scale-down. Too few (none; fewer than 3 for the
   * mass one, which must take more than half the service) and nodes join first.
   */
  private async processNodesFree(f: FaultSpec): Promise<Node[]> {
    const want = f.params.count === 99 ? 3 : 1;
    const free = () => this.eligible('process');
    if (free().length >= want) return free();
    const alive = this.nodes.filter((n) => n.kind === 'process' && (n.status === 'live' || n.status === 'joining')).length;
    const joining = this.nodes.filter((n) => n.kind === 'process' && n.status === 'joining').length;
    const more = Math.min(want - free().length - joining, MAX_PROCESS_NODES - alive);
    this.note('nodes join first', { n: f.n, kind: f.kind, count: more });
    for (let i = 0; i < more; i++) this.startProcessNode();
    return waitFor(() => (free().length >= want ? free() : undefined), 'process nodes to join', 15000, 100).catch(() => free());
  }

  private async fault(f: FaultSpec): Promise<void> {
    const p = f.params;
    switch (f.kind) {
      case 'stall':
      case 'slow': {
        const [n] = this.pickFrom(this.eligible(), p.pick as number);
        if (!n) return this.skip(f, 'no node to stall');
        const from = this.now();
        const touch: [number, number, string] = [from, Infinity, f.kind];
        n.touched.push(touch);
        this.ran(f, { tag: n.tag });
        try {
          if (f.kind === 'stall') {
            n.app.signal('SIGSTOP');
            await sleep(p.ms as number);
          } else {
            const stopped = Math.round((p.periodMs as number) * (p.stoppedShare as number));
            while (this.now() - from < (p.ms as number)) {
              n.app.signal('SIGSTOP');
              await sleep(stopped);
              n.app.signal('SIGCONT');
              await sleep((p.periodMs as number) - stopped);
            }
          }
        } finally {
          n.app.signal('SIGCONT');
          touch[1] = this.now();
        }
        return;
      }
      case 'clock-step': {
        const [n] = this.pickFrom(this.eligible('clock'), p.pick as number);
        if (!n) return this.skip(f, 'no clock node free');
        const touch: [number, number, string] = [this.now(), Infinity, f.kind];
        n.touched.push(touch);
        const { reg, clock } = n.inproc!;
        const lease = reg.leaseId;
        const registrations = n.inproc!.registrations;
        clock.offsetMs += p.stepMs as number;
        this.ran(f, { tag: n.tag, wallOffsetMs: clock.offsetMs });
        // Past a TTL: a lease renewed on a stepped clock would be lost by now.
        await sleep(3000);
        touch[1] = this.now();
        this.checks['6 clock step kept the lease']!++;
        if (reg.state !== 'registered' || reg.leaseId !== lease || n.inproc!.registrations !== registrations) {
          this.violate('6 clock step kept the lease', `${n.tag}: wall clock stepped ${p.stepMs} ms: state ${reg.state}, lease ${lease} -> ${reg.leaseId}, registrations ${registrations} -> ${n.inproc!.registrations}`);
        }
        return;
      }
      case 'hostile': {
        const h = hostileRecord(p.variant as number, this.hostileN++, { frontPort: this.ha.frontPort, etcdPort: Number(new URL(this.etcd.endpoint).port) });
        this.hostile.push(h);
        this.ran(f, { what: h.what, key: h.key.slice(0, 120), bytes: h.value.length });
        // etcd may be away (a restart): the put is tried again until it lands.
        await waitFor(async () => {
          if (h.leased) await this.etcd.putLeased(h.key, h.value);
          else await this.etcd.client.put(h.key).value(h.value).exec();
          return true;
        }, `hostile put ${h.what}`, 20000, 200);
        this.note('hostile put', { key: h.key.slice(0, 120) });
        return;
      }
      case 'etcd-restart':
      case 'renderer-restart': {
        // One of these at a time: wait for the previous one.
        while (this.globalBusy) await this.globalBusy;
        const done = this.restart(f);
        this.globalBusy = done.finally(() => (this.globalBusy = undefined));
        return done;
      }
      case 'scale-down': {
        const live = await this.processNodesFree(f);
        const count = Math.min(p.count as number, live.length);
        if (count < 1) return this.skip(f, 'no process node free');
        const victims = this.pickFrom(live, p.pick as number, count);
        const at = this.now();
        for (const n of victims) {
          n.status = 'leaving';
          n.sigtermAt = at;
          n.touched.push([at, Infinity, f.kind]);
          // As `docker stop` does: SIGTERM to the app and its registrar at once.
          n.registrar!.signal('SIGTERM');
          n.app.signal('SIGTERM');
        }
        this.ran(f, { tags: victims.map((n) => n.tag) });
        return;
      }
      case 'crash': {
        const live = await this.processNodesFree(f);
        const count = Math.min(p.count as number, live.length);
        if (count < 1) return this.skip(f, 'no process node free');
        const victims = this.pickFrom(live, p.pick as number, count);
        for (const n of victims) {
          n.status = 'crashed';
          n.crashedAt = this.now();
          n.touched.push([n.crashedAt, Infinity, f.kind]);
          n.registrar!.signal('SIGKILL');
          n.app.signal('SIGKILL');
        }
        this.ran(f, { tags: victims.map((n) => n.tag) });
        return;
      }
      case 'join': {
        const alive = this.nodes.filter((n) => n.kind === 'process' && (n.status === 'live' || n.status === 'joining')).length;
        const count = Math.min(p.count as number, MAX_PROCESS_NODES - alive);
        if (count < 1) return this.skip(f, `${alive} process nodes already`);
        for (let i = 0; i < count; i++) this.startProcessNode();
        this.ran(f, { count });
        return;
      }
    }
  }

  private async restart(f: FaultSpec): Promise<void> {
    const p = f.params;
    const from = this.now();
    const window: [number, number, string] = [from, Infinity, f.kind];
    this.globalFaults.push(window);
    this.ran(f, {});
    try {
      if (f.kind === 'etcd-restart') {
        if (p.kill) {
          this.etcd.proc!.signal('SIGKILL');
          await this.etcd.proc!.exited;
        } else await this.etcd.pause();
        await sleep(p.downMs as number);
        await this.etcd.resume();
      } else {
        const old = this.renderer;
        if (p.kill) {
          old.signal('SIGKILL');
          await old.exited;
        } else await old.stop();
        await sleep(p.downMs as number);
        this.startRenderer();
        await this.renderer.waitForEvent((e) => e.event === 'store' && e.state === 'synced', 'the restarted renderer listed', 20000);
      }
    } finally {
      window[1] = this.now();
      this.note(`${f.kind} done`, { downForMs: window[1] - from });
    }
  }

  // ---------------------------------------------------------------- the end

  /** What etcd holds for the service, hostile keys aside: addresses of leased, well-formed records. */
  private async etcdAddrs(): Promise<Set<string>> {
    const hostileKeys = new Set(this.hostile.map((h) => h.key));
    const keys = (await this.etcd.client.getAll().prefix('/nodes/').keys()).filter((k) => !hostileKeys.has(k));
    const out = new Set<string>();
    for (const key of keys) {
      const kv = (await this.etcd.client.get(key).exec()).kvs[0];
      if (!kv) continue;
      const read = parseRecord('/nodes/', key, kv.value.toString());
      if (!read.ok) throw new Error(`unexpected record at ${key}: ${read.reason}`);
      const r = read.record;
      if (String(kv.lease) === '0' || r.state === 'leaving' || isIP(r.address) !== 4) throw new Error(`unexpected record at ${key}: ${kv.value.toString()}`);
      out.add(hostPort(r.address, r.port));
    }
    return out;
  }

  /** 4: the registrars' records match the live nodes, and HAProxy's slots in rotation match them, all UP. */
  async converge(): Promise<number | undefined> {
    const from = this.now();
    let last = '';
    try {
      await waitFor(async () => {
        const model = new Set(this.nodes.filter((n) => n.status === 'live' || n.status === 'joining').map((n) => n.addr));
        const inEtcd = await this.etcdAddrs();
        const s = this.snapshots.at(-1)!;
        const health = await get(`http://127.0.0.1:${this.healthPort}/health`);
        last = `live nodes [${[...model].sort()}], etcd [${[...inEtcd].sort()}], HAProxy ${JSON.stringify(Object.fromEntries(s.rotation))}, /health ${health.status} ${JSON.stringify(health.body)}`;
        return sameSet(model, inEtcd) && sameSet(new Set(s.rotation.keys()), inEtcd) && sameSet(s.up, inEtcd) && health.status === 200 && health.body?.converged === true;
      }, 'convergence', CONVERGE_BOUND_MS, 200);
    } catch {
      this.violate('4 converged', `not converged ${CONVERGE_BOUND_MS} ms after the faults ended: ${last}`);
      return undefined;
    }
    this.checks['4 converged']!++;
    this.note('converged', { afterMs: this.now() - from, state: last });
    const reloads = (await this.ha.control.showProc()).reloads;
    this.checks['7 no reload']!++;
    if (reloads !== this.reloadsAtStart) this.violate('7 no reload', `HAProxy reloaded ${reloads - this.reloadsAtStart} time(s) during the run: membership and renderer restarts must not reload`);
    return this.now() - from;
  }

  /** Stops the loads and judges every request (invariants 2 and 3). */
  async judgeLoad(): Promise<LoadFigures> {
    for (const l of this.loads) this.loadResults.push({ start: l.start - this.t0, name: l.name, r: await l.load.stop() });
    this.loads = [];
    const out: LoadFigures = { sent: 0, failed: 0, noNodePassing: 0, deathWindow: 0, p50: 0, p99: 0 };
    const lat: number[] = [];
    const byTag = new Map(this.nodes.map((n) => [n.tag, n]));
    for (const { start, name, r } of this.loadResults) {
      for (const s of r.samples) {
        out.sent++;
        lat.push(s.latencyMs);
        const from = start + s.at;
        const to = from + s.latencyMs;
        // 3. A request sent after the graceful removal was seen applied is never answered by that node.
        const n = s.tag ? byTag.get(s.tag) : undefined;
        if (n?.removedSeenAt !== undefined) {
          this.checks['3 no request after a graceful removal']!++;
          if (from > n.removedSeenAt) this.violate('3 no request after a graceful removal', `${name}: a request sent at ${from} was answered by ${n.tag}, seen out of rotation at ${n.removedSeenAt} (SIGTERM at ${n.sigtermAt})`);
        }
        if (s.status === 200) continue;
        out.failed++;
        this.checks['2 request judged']!++;
        const dead = this.deaths(from, to);
        const passing = this.passingNode(from, to);
        if (dead.length >= TOGETHER) {
          out.deathWindow++;
          this.note('failed request in a death window', { name, from, status: s.status, error: s.error, dead });
        } else if (!passing) {
          out.noNodePassing++;
          this.note('failed request with no node passing', { name, from, status: s.status, error: s.error });
        } else this.violate('2 no failure while a node passes', `${name}: ${describe(s)} sent at ${from}, ${s.latencyMs} ms, while ${passing.tag} (${passing.addr}) was UP and untouched`);
      }
    }
    lat.sort((a, b) => a - b);
    const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? 0;
    return { ...out, p50: pct(0.5), p99: pct(0.99) };
  }

  /**
   * Nodes that died in [from - DEATH_WINDOW_MS, to] while HAProxy could still send to them: crashed,
   * or stopped gracefully but their app gone before the removal was seen (etcd or the renderer away).
   */
  private deaths(from: number, to: number): string[] {
    return this.nodes
      .filter((n) => {
        const died = n.crashedAt ?? (n.sigtermAt !== undefined && !(n.removedSeenAt! <= n.sigtermAt + APP_DRAIN_MS) ? n.sigtermAt + APP_DRAIN_MS : undefined);
        return died !== undefined && died >= from - DEATH_WINDOW_MS && died <= to;
      })
      .map((n) => n.tag);
  }

  /**
   * A node that passes HAProxy's checks throughout [from, to]: UP at the last poll before, and no
   * fault on its app (a registrar's clock step is none) since QUIET_BEFORE_MS before: a check in
   * flight may still see it.
   */
  private passingNode(from: number, to: number): Node | undefined {
    const before = [...this.snapshots].reverse().find((s) => s.t1 <= from);
    if (!before) return undefined;
    return this.nodes.find((n) =>
      n.firstUpAt !== undefined && n.firstUpAt <= from && before.up.has(n.addr) && n.touched.every(([a, b, kind]) => kind === 'clock-step' || b < from - QUIET_BEFORE_MS || a > to),
    );
  }

  report(load: RunReport['requests'], convergedAfterMs: number | undefined, durationMs: number): RunReport {
    const failStatic: Record<string, number> = {};
    for (const r of this.renderers) for (const e of r.events()) if (e.event === 'fail-static') failStatic[e.change] = (failStatic[e.change] ?? 0) + e.ids.length;
    return { seed: this.seed, durationMs, faults: this.faults, checks: this.checks, requests: load, leaveLatencyMs: this.leaveLatency, failStatic, convergedAfterMs, violations: this.violations };
  }

  /** What a replay needs: the schedule, the timeline, the renderer's recent lines, the last polls. */
  replayContent(): Record<string, unknown> {
    const failed = this.loadResults.flatMap(({ start, name, r }) => r.failed.map((s) => ({ name, from: start + s.at, status: s.status, error: s.error, latencyMs: s.latencyMs })));
    // What HAProxy showed just before and after each failed request (polls every POLL_MS).
    const around = failed.slice(0, 10).map((f) => ({
      from: f.from,
      polls: this.snapshots.filter((s) => s.t1 >= f.from - 1500 && s.t0 <= f.from + 500).map((s) => ({ t0: s.t0, t1: s.t1, rows: s.rows.filter(inRotation).map((r) => `${r.server} ${r.addr} ${r.status}`) })),
    }));
    return {
      // Renderer lines carry wall-clock times: t = their time minus this.
      t0: new Date(this.t0).toISOString(),
      violations: this.violations,
      schedule: this.schedule,
      timeline: this.timeline,
      failedRequests: failed.slice(0, 200),
      pollsAroundFailures: around,
      // HAProxy's request log (REQUEST_LOG=errors): the server each failed or retried request tried, and why it ended.
      haproxy: this.ha?.proc?.lines.slice(-300),
      renderer: this.renderers.map((r, i) => ({ process: i, lines: r.lines.slice(-150) })),
      lastPolls: this.snapshots.slice(-40).map((s) => ({ t0: s.t0, t1: s.t1, rows: s.rows.filter(inRotation).map((r) => `${r.server} ${r.addr} ${r.status}`) })),
      nodes: this.nodes.map((n) => ({ tag: n.tag, addr: n.addr, kind: n.kind, status: n.status, liveAt: n.liveAt, firstUpAt: n.firstUpAt, touched: n.touched, sigtermAt: n.sigtermAt, removedSeenAt: n.removedSeenAt, registrar: n.registrar?.lines.slice(-30) })),
    };
  }

  /** Kills everything, whatever state it is in. */
  async teardown(): Promise<void> {
    this.monitoring = false;
    await this.monitorDone?.catch(() => undefined);
    for (const l of this.loads) await l.load.stop().catch(() => undefined);
    await Promise.all([...this.pending]).catch(() => undefined);
    for (const n of this.nodes) n.app.signal('SIGCONT');
    await Promise.all(
      this.nodes.map(async (n) => {
        if (n.inproc) {
          await Promise.race([n.inproc.reg.stop(), sleep(3000)]);
          n.inproc.store.close();
        }
        n.registrar?.signal('SIGKILL');
        n.app.signal('SIGKILL');
        await Promise.all([n.registrar?.exited, n.app.exited]);
      }),
    );
    for (const r of this.renderers) r.signal('SIGKILL');
    await Promise.all(this.renderers.map((r) => r.exited));
    await this.ha?.stop();
    await this.etcd?.stop();
  }
}

function describe(s: Sample): string {
  if (s.status === 503 && !s.tag) return 'HAProxy 503 (no server available, or every attempt failed)';
  return `status ${s.status}${s.error ? ` (${s.error})` : ''}`;
}
