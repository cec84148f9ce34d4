// The renderer alone: a real etcd and a real HAProxy (the host's) on 127.0.0.1, and the renderer
// as a child process, as test/integration drives them.
import { TestEtcd } from '../../harness/etcd.js';
import { TestHaproxy } from '../../harness/haproxy.js';
import { get } from '../../harness/http.js';
import { freePort } from '../../harness/ports.js';
import { type Proc, node } from '../../harness/process.js';
import { waitFor } from '../../harness/wait.js';
import { clock, cpuSeconds, memoryMb } from '../machine.js';
import type { StatusBody } from '../../common/status.js';

export class Rig {
  renderer?: Proc;
  healthPort = 0;

  private constructor(
    readonly etcd: TestEtcd,
    public ha: TestHaproxy,
  ) {}

  static async start(): Promise<Rig> {
    return new Rig(await TestEtcd.start(), await TestHaproxy.start());
  }

  /** Starts the renderer against this etcd and HAProxy; `env` adds to or overrides the defaults. */
  async startRenderer(env: Record<string, string> = {}): Promise<Proc> {
    this.healthPort = await freePort();
    this.renderer = node('renderer', 'renderer/main.js', {
      ETCD_ENDPOINTS: this.etcd.endpoint,
      ...this.ha.rendererEnv(),
      RENDERER_HEALTH_PORT: String(this.healthPort),
      // The bench's nodes are 127.0.0.1 ports, which the admission rules refuse by default.
      ALLOW_LOCAL_NODES: '1',
      // Mirror writes are logged at debug: the one-change figures say which waited for one.
      LOG_LEVEL: 'debug',
      ...env,
    });
    return this.renderer;
  }

  async stopRenderer(): Promise<void> {
    await this.renderer?.stop();
    this.renderer = undefined;
  }

  /** A fresh HAProxy on its bootstrap config (no servers, no admin socket), as on a first start. */
  async freshHaproxy(): Promise<void> {
    await this.ha.stop();
    this.ha = await TestHaproxy.start();
  }

  /** `/status` of the renderer: slots by backend under `backends`. */
  async status(): Promise<StatusBody> {
    const r = await get(`http://127.0.0.1:${this.healthPort}/status`, {}, 30000);
    if (r.status !== 200) throw new Error(`/status answered ${r.status}`);
    return r.body;
  }

  async healthy(): Promise<boolean> {
    return (await get(`http://127.0.0.1:${this.healthPort}/health`, {}, 30000)).status === 200;
  }

  async waitHealthy(timeoutMs: number): Promise<number> {
    const t0 = clock();
    await waitFor(() => this.healthy(), 'renderer healthy', timeoutMs, 50);
    return clock() - t0;
  }

  /** Reloads HAProxy's master has done since it started (`show proc`). */
  async reloads(): Promise<number> {
    return (await this.ha.control.showProc()).reloads;
  }

  /** The renderer's log events (JSON lines) of one kind. */
  events(kind: string): Record<string, any>[] {
    return (this.renderer?.events() ?? []).filter((e) => e.event === kind);
  }

  rendererMemory(): { rss: number; peak: number } {
    return memoryMb(this.renderer!.child.pid!);
  }

  /** CPU seconds used so far by the renderer, HAProxy's master and its current worker. */
  async cpu(): Promise<{ renderer: number; haproxy: number }> {
    const proc = await this.ha.control.showProc();
    const worker = proc.workers.find((w) => w.reloads === 0)?.pid;
    return { renderer: cpuSeconds(this.renderer!.child.pid!), haproxy: cpuSeconds(proc.masterPid) + (worker ? cpuSeconds(worker) : 0) };
  }

  async stop(): Promise<void> {
    await this.stopRenderer();
    await this.ha.stop();
    await this.etcd.stop();
  }
}

/** A log event's timestamp as wall-clock ms. */
export const eventTime = (e: Record<string, any>): number => Date.parse(e.time);

/** ms from `t0` to the first event of `kind` logged at or after it. */
export function firstEventAfter(rig: Rig, kind: string, t0: number): { ms: number; event: Record<string, any> } | undefined {
  // Log timestamps have 1 ms resolution: an event logged in the same ms as t0 counts.
  const e = rig.events(kind).find((x) => eventTime(x) >= Math.floor(t0));
  return e && { ms: eventTime(e) - t0, event: e };
}
