import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { TestFn } from 'ava';
import Docker from 'dockerode';
import { type ServerRow, get, inRotation, statsServers } from './http.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

/** The repo root (this file runs from dist/harness/). */
export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const docker = new Docker();

/** A leasehold image as compose.yml names it: `leasehold/<name>:${LEASEHOLD_TAG:-latest}`. */
export function image(name: 'ha' | 'webapp' | 'etcd'): string {
  return `leasehold/${name}:${process.env.LEASEHOLD_TAG || 'latest'}`;
}

/** `docker compose` (v2) through scripts/compose.sh, which hands the host's CAs to builds as make does. */
function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 600000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('bash', ['scripts/compose.sh', ...args], { cwd: REPO, env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker compose ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-4000)}`));
      else resolve(stdout + stderr);
    });
  });
}

/** Builds the images once per run (the layer cache makes repeats quick). */
export function buildImages(file = 'compose.yml'): Promise<string> {
  return run(['-f', file, 'build'], process.env, 1800000);
}

export interface StackOptions {
  webapps: number;
  env?: Record<string, string>;
}

/**
 * One compose project per test, with its own name, ports and run label; `down()` removes it all.
 * Containers carry the label `leasehold.test-run=<id>` so leftovers can be found and removed.
 */
export class ComposeStack {
  /** The compose file, from the repo root: compose.yml, or compose.cluster.yml (harness/cluster.ts). */
  constructor(readonly file = 'compose.yml') {}
  readonly runId = randomBytes(4).toString('hex');
  readonly project = `lhtest${this.runId}`;
  protected env: NodeJS.ProcessEnv = {};
  lbPort = 0;
  statsPort = 0;
  /** The stats page's password (user leasehold), made by the pki job; read from the LB at `up`. */
  statsPassword = '';
  /** The service whose container holds the LB's credentials. */
  protected haService = 'ha';

  async up(o: StackOptions): Promise<this> {
    this.lbPort = await freePort();
    this.statsPort = await freePort();
    this.env = {
      ...process.env,
      COMPOSE_PROJECT_NAME: this.project,
      LB_PORT: String(this.lbPort),
      STATS_PORT: String(this.statsPort),
      LEASEHOLD_RUN: this.runId,
      ...o.env,
    };
    await this.compose(['up', '-d', '--no-build', '--scale', `webapp=${o.webapps}`]);
    this.statsPassword = await waitFor(async () => {
      const r = await this.exec(this.haService, ['cat', '/etc/leasehold/pki/stats-password'], 10000);
      return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
    }, 'the stats password', 60000, 250);
    await waitFor(async () => (await get(`${this.statsUrl}/;csv`)).status === 200, 'stats page', 60000, 250);
    return this;
  }

  compose(args: string[], timeoutMs?: number): Promise<string> {
    return run(['-f', this.file, '-p', this.project, ...args], this.env, timeoutMs);
  }

  get url(): string {
    return `http://127.0.0.1:${this.lbPort}/`;
  }
  /** The stats page, with its credentials in the URL (node:http sends them as basic auth). */
  get statsUrl(): string {
    return this.statsAt(this.statsPort);
  }
  protected statsAt(port: number): string {
    return `http://leasehold:${this.statsPassword}@127.0.0.1:${port}`;
  }

  async scale(n: number): Promise<void> {
    await this.compose(['up', '-d', '--no-build', '--no-recreate', '--scale', `webapp=${n}`, 'webapp']);
  }

  /** Running containers of a service, oldest first. */
  async containers(service: string): Promise<Docker.ContainerInfo[]> {
    const list = await docker.listContainers({
      filters: { label: [`com.docker.compose.project=${this.project}`, `com.docker.compose.service=${service}`], status: ['running'] },
    });
    return list.sort((a, b) => a.Created - b.Created);
  }

  /** Hostnames (= node ids) of the running webapps. */
  async webappIds(): Promise<string[]> {
    return (await Promise.all((await this.containers('webapp')).map(async (c) => (await this.webapp(c.Id)).hostname))).sort();
  }

  protected readonly known = new Map<string, { hostname: string; addr: string }>();

  /** A webapp's node id and the `address:port` HAProxy reaches it at (kept after it is gone; `fresh` looks again). */
  async webapp(id: string, fresh = false): Promise<{ hostname: string; addr: string }> {
    let w = this.known.get(id);
    if (!w || fresh) {
      const info = await docker.getContainer(id).inspect();
      const ip = Object.values(info.NetworkSettings.Networks ?? {})[0]?.IPAddress ?? '';
      w = { hostname: info.Config.Hostname, addr: `${ip}:3000` };
      this.known.set(id, w);
    }
    return w;
  }

  /** The webapps' live records, as users see them: `compose exec etcd etcdctl get --prefix /nodes/webapp/`. */
  etcdRecords(): Promise<Record<string, any>[]> {
    return this.recordsOf('webapp');
  }

  /** The live records of a service (null: every service). */
  async recordsOf(service: string | null): Promise<Record<string, any>[]> {
    const out = await this.compose(['exec', '-T', 'etcd', 'etcdctl', 'get', '--prefix', service === null ? '/nodes/' : `/nodes/${service}/`, '--print-value-only']);
    return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  }

  /** Server (slot) rows of the stats CSV for a backend. */
  async stats(backend = 'webapp'): Promise<ServerRow[]> {
    return (await statsServers(this.statsUrl)).filter((r) => r.backend === backend);
  }

  /** The slot (server name) in rotation that points at `addr`, if any. */
  async slotOf(addr: string, backend = 'webapp'): Promise<string | undefined> {
    return (await this.stats(backend)).find((r) => r.addr === addr && inRotation(r))?.server;
  }

  /**
   * HAProxy's status of the node at `addr` in `slot`, or undefined once the slot is out of
   * rotation or points elsewhere. By slot name: the CSV's address column can be empty a moment.
   */
  async slotStatus(slot: string, addr: string, backend = 'webapp'): Promise<string | undefined> {
    const row = (await this.stats(backend)).find((r) => r.server === slot);
    if (!row || !inRotation(row) || (row.addr !== '' && row.addr !== addr)) return undefined;
    return row.status;
  }

  /**
   * Node ids by `address:port`: the webapps this stack started, the running ones looked up again
   * and last. Docker hands a gone container's address to the next one, and a container started
   * again may get another: a cached address would name the wrong node.
   */
  protected async byAddr(): Promise<Map<string, string>> {
    const byAddr = new Map([...this.known.values()].map((w) => [w.addr, w.hostname]));
    for (const c of await this.containers('webapp')) {
      const w = await this.webapp(c.Id, true);
      byAddr.set(w.addr, w.hostname);
    }
    return byAddr;
  }

  /** Node ids HAProxy has in rotation and UP, by the addresses of the webapps this stack started. */
  async upInHaproxy(backend = 'webapp'): Promise<string[]> {
    const byAddr = await this.byAddr();
    return (await this.stats(backend)).filter((r) => inRotation(r) && r.status === 'UP').map((r) => byAddr.get(r.addr) ?? r.addr).sort();
  }

  /** Waits until HAProxy's slots in rotation, the etcd records and the running webapps are the same set. */
  async converged(timeoutMs = 30000): Promise<string[]> {
    let last = '';
    return waitFor(
      async () => {
        const byAddr = await this.byAddr();
        const ids = await this.webappIds();
        const rows = await this.stats();
        const inRot = rows.filter(inRotation).map((r) => `${byAddr.get(r.addr) ?? r.addr}${r.status === 'UP' ? '' : `(${r.status})`}`).sort();
        const recs = (await this.etcdRecords()).map((r) => r.id).sort();
        last = `running ${ids} haproxy ${inRot} etcd ${recs}`;
        const same = (a: string[]) => a.join(',') === ids.join(',');
        return same(inRot) && same(recs) ? ids : undefined;
      },
      'HAProxy, etcd and the running webapps to agree',
      timeoutMs,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; ${last}`);
    });
  }

  async logs(service: string): Promise<string> {
    return this.compose(['logs', '--no-color', service]);
  }

  /**
   * Follows the log lines of every container of `service`, those started later included, until
   * the returned stop() is called. A container's lines are all read before it is removed.
   */
  async followLogs(service: string, onLine: (line: string, container: string) => void): Promise<() => void> {
    const streams: NodeJS.ReadableStream[] = [];
    const seen = new Set<string>();
    const follow = async (id: string) => {
      if (seen.has(id)) return;
      seen.add(id);
      const stream = (await docker.getContainer(id).logs({ follow: true, stdout: true, stderr: true })) as unknown as NodeJS.ReadableStream;
      streams.push(stream);
      let buf = '';
      const sink = new PassThrough();
      sink.on('data', (d: Buffer) => {
        buf += d.toString();
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i), id);
          buf = buf.slice(i + 1);
        }
      });
      docker.modem.demuxStream(stream, sink, sink);
      stream.on('error', () => undefined);
    };
    const labels = [`com.docker.compose.project=${this.project}`, `com.docker.compose.service=${service}`];
    const events = (await docker.getEvents({ filters: { type: ['container'], event: ['start'], label: labels } })) as unknown as NodeJS.ReadableStream;
    events.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n').filter(Boolean)) void follow(JSON.parse(line).id).catch(() => undefined);
    });
    for (const c of await this.containers(service)) await follow(c.Id);
    return () => {
      (events as unknown as { destroy(): void }).destroy();
      for (const s of streams) (s as unknown as { destroy(): void }).destroy();
    };
  }

  /**
   * `docker compose exec -T <service> <args...>` as an operator types it: the exit code and both
   * outputs; never throws on a non-zero exit.
   */
  exec(service: string, args: string[], timeoutMs = 120000): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile('bash', ['scripts/compose.sh', '-f', this.file, '-p', this.project, 'exec', '-T', service, ...args], { cwd: REPO, env: this.env, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
      });
    });
  }

  /** Runs a command in the ha container and returns its output. */
  async haExec(cmd: string): Promise<string> {
    return this.compose(['exec', '-T', 'ha', 'sh', '-c', cmd]);
  }

  /** The master CLI's `show proc` in the ha container: the current worker's PID and the reload count. */
  async haProc(): Promise<{ workerPid: number; reloads: number }> {
    const text = await this.haExec('echo "show proc" | socat - "${HAPROXY_MASTER_SOCKET:-/run/haproxy/master.sock}"');
    const master = /^\d+\s+master\s+(\d+)/m.exec(text);
    const worker = [...text.matchAll(/^(\d+)\s+worker\s+(\d+)/gm)].find((m) => m[2] === '0');
    if (!master || !worker) throw new Error(`unexpected show proc: ${text}`);
    return { workerPid: Number(worker[1]), reloads: Number(master[1]) };
  }

  async down(): Promise<void> {
    await this.compose(['down', '-v', '--remove-orphans', '-t', '5']).catch(() => undefined);
    // Anything left with our run label goes too.
    for (const c of await docker.listContainers({ all: true, filters: { label: [`leasehold.test-run=${this.runId}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  }
}

/** One stack for a test file: images built and the stack converged before its tests, removed after. */
export function stackForFile(test: TestFn, o: StackOptions): ComposeStack {
  const stack = new ComposeStack();
  test.before(async () => {
    await buildImages();
    await stack.up(o);
    await stack.converged(60000);
  });
  test.after.always(() => stack.down());
  return stack;
}
