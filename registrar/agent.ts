// The per-host agent: registers the containers of this Docker engine that carry leasehold's
// labels, one lease per container, with no change to their images (as registrator does).
// Each container gets the registrar's own loop (fall/rise checks, keepalives, re-registration);
// the agent only decides which containers, where, and how to check them.
import { EventEmitter } from 'node:events';
import { constants } from 'node:os';
import { NAME_PATTERN } from '../common/record-format.js';
import { appCheck, tcpOpen } from './app-health.js';
import { type Clock, systemClock } from './clock.js';
import type { ContainerEvent, ContainerView, DockerEngine, EventStream } from './docker-engine.js';
import type { LeaseStore } from './lease-store.js';
import type { RegistrarOptions } from './options.js';
import { Registrar, type RegistrarEvents } from './registrar.js';

export const LABEL = {
  service: 'leasehold.service',
  port: 'leasehold.port',
  health: 'leasehold.health',
  weight: 'leasehold.weight',
  network: 'leasehold.network',
} as const;

export interface AgentOptions {
  /** TTL, check settings and prefix for every container's registrar (its service, id, address and port come from the container). */
  base: RegistrarOptions;
  /** Services this agent holds credentials for: a label naming another is refused. */
  services: string[];
  /** More labels a container must carry (`key=value`), e.g. its compose project: what this agent looks after. */
  scope: string[];
  /** Networks (by name) whose address may be advertised, in order of preference; empty: any. */
  networks: string[];
  /** Containers listed again this often, ms, beside the event stream (catches what a gap in it missed). */
  resyncMs: number;
}

export interface AgentDeps {
  engine: DockerEngine;
  /** etcd as a service's registrar user. */
  storeFor: (service: string) => LeaseStore;
  clock?: Clock;
}

export interface AgentEvents {
  /** A container taken on (`watching`: its registrar waits for the app) or let go (`left`, with why). */
  node: [{ change: 'watching' | 'left'; container: string; service: string; id: string; address?: string; port?: number; why?: string }];
  /** A labelled container this agent will not register, and why (once per container and reason). */
  refused: [{ container: string; reason: string }];
  /** The event stream from the engine: connected, or lost (retried). */
  engine: [{ state: 'connected' | 'lost'; error?: Error; delayMs?: number }];
  /** A container's registrar event, with the container's name. */
  registrar: [{ container: string } & ({ name: 'state'; e: RegistrarEvents['state'][0] } | { name: 'retry'; e: RegistrarEvents['retry'][0] } | { name: 'check'; e: RegistrarEvents['check'][0] })];
}

interface Node {
  container: string;
  service: string;
  id: string;
  registrar: Registrar;
  /** When it was taken on, in relists: a list asked for before that cannot say it is gone. */
  takenAt: number;
  /** Docker's health status, when the image has a HEALTHCHECK and no `leasehold.health` label. */
  dockerHealth?: string;
  /** Its STOPSIGNAL: `docker stop` sends this one (SIGWINCH for httpd, SIGQUIT for nginx). */
  stopSignal?: string;
}

const osSignals = constants.signals;

/** Signals after which a container is on its way out: `docker stop` (TERM), `docker kill` (KILL), ^C. */
const LEAVING_SIGNALS = new Set(['15', '9', '2', '3', 'SIGTERM', 'SIGKILL', 'SIGINT', 'SIGQUIT']);

/** A label value as a refusal shows it: a container's labels can be megabytes long. */
const shown = (v: string | undefined) => JSON.stringify((v ?? '').length > 100 ? `${v!.slice(0, 100)}…` : (v ?? ''));

/** What a container's labels ask for, or why they are refused. */
export function readLabels(c: ContainerView, o: Pick<AgentOptions, 'services' | 'networks'>): { service: string; port: number; health?: string; weight?: number; address: string; network: string } | { refused: string } {
  const l = c.labels;
  const service = l[LABEL.service] ?? '';
  if (!NAME_PATTERN.test(service)) return { refused: `${LABEL.service}=${shown(service)}: must match ${NAME_PATTERN.source}` };
  if (!o.services.includes(service)) return { refused: `${LABEL.service}=${service}: this agent registers only ${o.services.join(', ')} (it holds no credentials for ${service})` };
  const port = Number(l[LABEL.port]);
  if (!/^\d{1,5}$/.test(l[LABEL.port] ?? '') || port < 1 || port > 65535) return { refused: `${LABEL.port}=${shown(l[LABEL.port])}: a port 1-65535 is needed` };
  const health = l[LABEL.health];
  if (health !== undefined && !/^\/[\x21-\x7e]{0,255}$/.test(health)) return { refused: `${LABEL.health}=${shown(health)}: an HTTP path (/...) of printable characters is needed` };
  let weight: number | undefined;
  if (l[LABEL.weight] !== undefined) {
    weight = Number(l[LABEL.weight]);
    if (!/^\d{1,3}$/.test(l[LABEL.weight]!) || weight > 256) return { refused: `${LABEL.weight}=${shown(l[LABEL.weight])}: 0-256` };
  }
  const wanted = l[LABEL.network];
  const names = Object.keys(c.networks).sort();
  const candidates = wanted !== undefined ? names.filter((n) => n === wanted) : o.networks.length ? o.networks.filter((n) => names.includes(n)) : names;
  const network = candidates.find((n) => !o.networks.length || o.networks.includes(n));
  if (!network) {
    const why = wanted !== undefined ? `it is not on network ${shown(wanted)}${o.networks.length ? ` among ${o.networks.join(', ')}` : ''}` : `it shares no network with the agent (${o.networks.join(', ')})`;
    return { refused: `no address to advertise: ${why}` };
  }
  return { service, port, ...(health !== undefined && { health }), ...(weight !== undefined && { weight }), address: c.networks[network]!, network };
}

export class Agent extends EventEmitter<AgentEvents> {
  private readonly nodes = new Map<string, Node>();
  private readonly refusals = new Map<string, string>();
  /** Per container, the work on it in order: an event never overtakes the one before. */
  private readonly lanes = new Map<string, Promise<void>>();
  /**
   * Containers told to stop (TERM, KILL...) that have not died yet: they still list as running
   * through their grace period, and must not be taken on again meanwhile.
   */
  private readonly stopping_ = new Set<string>();
  /** Counts relists and takes: a node taken after a list was asked for is not judged by it. */
  private tick = 0;
  private readonly stopping = new AbortController();
  private loop?: Promise<void>;
  private readonly clock: Clock;
  connected = false;

  constructor(
    private readonly o: AgentOptions,
    private readonly deps: AgentDeps,
  ) {
    super();
    this.clock = deps.clock ?? systemClock;
  }

  /** The containers registered or waiting, by container id. */
  get watching(): { container: string; service: string; id: string; state: string }[] {
    return [...this.nodes.values()].map((n) => ({ container: n.container, service: n.service, id: n.id, state: n.registrar.state }));
  }

  get refused(): number {
    return this.refusals.size;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /**
   * Stops watching the engine and lets every lease expire: the agent going away (an upgrade, a
   * crash) is no reason to pull its containers; a new agent puts their records on new leases.
   */
  async abandon(): Promise<void> {
    await this.quiesce();
    await Promise.all([...this.nodes.values()].map((n) => n.registrar.abandon()));
  }

  /** No more events, lists or takes: the loop ended and every lane ran out. */
  private async quiesce(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    while (this.lanes.size) await Promise.all([...this.lanes.values()]);
  }

  /** Lets every container go (marked leaving, lease revoked): for tests and a host being drained. */
  async stopAll(): Promise<void> {
    await this.quiesce();
    await Promise.all([...this.nodes.keys()].map((id) => this.drop(id, 'agent stopped')));
  }

  private labels(): string[] {
    return [LABEL.service, ...this.o.scope];
  }

  private async run(): Promise<void> {
    let failures = 0;
    const aborted = new Promise<Error>((r) => this.stopping.signal.addEventListener('abort', () => r(new Error('stopped')), { once: true }));
    while (!this.stopping.signal.aborted) {
      let stream: EventStream | undefined;
      let timer: NodeJS.Timeout | undefined;
      let since = this.clock.monotonic();
      try {
        // Events first, then the list: a container started in between is in one or the other.
        stream = await Promise.race([this.deps.engine.events(this.labels(), (e) => this.onEvent(e)), aborted.then(() => undefined)]);
        if (!stream) break;
        await this.relist();
        this.connected = true;
        since = this.clock.monotonic();
        this.emit('engine', { state: 'connected' });
        timer = setInterval(() => void this.relist().catch(() => undefined), this.o.resyncMs);
        const err = await Promise.race([stream.ended, aborted]);
        if (this.stopping.signal.aborted) break;
        throw err;
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        this.connected = false;
        // Only a stream that lived a while resets the back-off: one that dies at once retries slower and slower.
        if (this.clock.monotonic() - since >= 10000) failures = 0;
        // Containers keep their records meanwhile: the engine away says nothing about them.
        const delayMs = Math.min(5000, 100 * 2 ** failures++);
        this.emit('engine', { state: 'lost', error: err as Error, delayMs });
        await this.clock.sleep(delayMs, this.stopping.signal);
      } finally {
        clearInterval(timer);
        stream?.close();
      }
    }
    this.connected = false;
  }

  /** Takes on every labelled running container, and lets go of those no longer running. */
  private async relist(): Promise<void> {
    const asked = ++this.tick;
    const running = await this.deps.engine.list(this.labels());
    const byId = new Map(running.map((c) => [c.id, c]));
    for (const [id, n] of this.nodes) {
      const c = byId.get(id);
      // Taken on after this list was asked for: the list is older than what we know.
      if (!c && n.takenAt < asked) this.inLane(id, () => this.drop(id, 'no longer running'));
      // A health_status event lost in a gap of the stream: the list says it too.
      if (c?.health !== undefined && n.dockerHealth !== undefined) n.dockerHealth = c.health;
    }
    for (const id of this.refusals.keys()) if (!byId.has(id)) this.refusals.delete(id);
    for (const id of this.stopping_) if (!byId.has(id)) this.stopping_.delete(id);
    for (const c of running) if (!this.nodes.has(c.id) && !this.stopping_.has(c.id)) this.inLane(c.id, () => this.take(c.id));
  }

  private onEvent(e: ContainerEvent): void {
    const a = e.action;
    if (a === 'start') {
      this.stopping_.delete(e.id);
      this.inLane(e.id, () => this.take(e.id));
    } else if (a === 'die' || a === 'stop' || a === 'destroy') {
      this.stopping_.delete(e.id);
      this.inLane(e.id, () => this.drop(e.id, a));
    } else if (a === 'kill' && (LEAVING_SIGNALS.has(e.signal ?? '') || this.isStopSignal(e.id, e.signal))) {
      // Told to stop, still running through its grace period: out now, and not taken on again until it starts anew.
      this.stopping_.add(e.id);
      this.inLane(e.id, () => this.drop(e.id, `signal ${e.signal}`));
    } else if (a.startsWith('health_status')) {
      const n = this.nodes.get(e.id);
      if (n && n.dockerHealth !== undefined) n.dockerHealth = a.slice(a.indexOf(':') + 1).trim();
    }
  }

  /** Whether `signal` is the one `docker stop` sends this container (its image's STOPSIGNAL). */
  private isStopSignal(id: string, signal?: string): boolean {
    const s = this.nodes.get(id)?.stopSignal;
    if (!s || !signal) return false;
    const name = (x: string) => x.toUpperCase().replace(/^SIG/, '');
    return name(s) === name(signal) || (/^\d+$/.test(signal) && (osSignals as Record<string, number>)[`SIG${name(s)}`] === Number(signal));
  }

  private inLane(id: string, work: () => Promise<void>): void {
    const next = (this.lanes.get(id) ?? Promise.resolve()).then(work).catch(() => undefined);
    this.lanes.set(id, next);
    void next.then(() => {
      if (this.lanes.get(id) === next) this.lanes.delete(id);
    });
  }

  private async take(id: string): Promise<void> {
    if (this.nodes.has(id) || this.stopping.signal.aborted || this.stopping_.has(id)) return;
    const takenAt = ++this.tick;
    // The list says little (no health, no stop signal): the inspect says it all, and that it still runs.
    const c = await this.deps.engine.inspect(id);
    if (!c || this.nodes.has(id) || this.stopping.signal.aborted || this.stopping_.has(id)) return;
    const want = readLabels(c, this.o);
    if ('refused' in want) {
      if (this.refusals.get(id) !== want.refused) this.emit('refused', { container: c.name, reason: want.refused });
      this.refusals.set(id, want.refused);
      return;
    }
    this.refusals.delete(id);
    // The container's id, never its hostname: a container picks its hostname, and two with the
    // same one would share a key (or one would take over another's). Docker's default hostname is
    // this id too, as the registrar inside a container uses.
    const nodeId = c.id.slice(0, 12);
    const tag = NAME_PATTERN.test(c.name) ? c.name : nodeId;
    const options: RegistrarOptions = {
      ...this.o.base,
      service: want.service,
      nodeId,
      tag,
      address: want.address,
      port: want.port,
      weight: want.weight ?? this.o.base.weight,
      healthUrl: want.health ? `http://${want.address.includes(':') ? `[${want.address}]` : want.address}:${want.port}${want.health}` : '',
    };
    const node: Node = { container: c.name, service: want.service, id: nodeId, registrar: undefined!, takenAt, ...(c.stopSignal && { stopSignal: c.stopSignal }), ...(want.health === undefined && c.health !== undefined && { dockerHealth: c.health }) };
    const http = options.healthUrl ? appCheck(options.healthUrl, options.checkTimeoutMs) : undefined;
    node.registrar = new Registrar(options, {
      store: this.deps.storeFor(want.service),
      appHealthy: async (signal) => {
        if (http) return http(signal);
        if (node.dockerHealth !== undefined) return node.dockerHealth === 'healthy';
        return tcpOpen(want.address, want.port, options.checkTimeoutMs, signal);
      },
      ownAddress: () => want.address,
      clock: this.clock,
    });
    for (const name of ['state', 'retry', 'check'] as const) node.registrar.on(name, (e: any) => this.emit('registrar', { container: c.name, name, e }));
    this.nodes.set(id, node);
    this.emit('node', { change: 'watching', container: c.name, service: want.service, id: nodeId, address: want.address, port: want.port });
    node.registrar.start();
  }

  /** A container on its way out: its record is marked leaving, then its lease revoked. */
  private async drop(id: string, why: string): Promise<void> {
    this.refusals.delete(id);
    const n = this.nodes.get(id);
    if (!n) return;
    this.nodes.delete(id);
    await n.registrar.stop();
    this.emit('node', { change: 'left', container: n.container, service: n.service, id: n.id, why });
  }
}
