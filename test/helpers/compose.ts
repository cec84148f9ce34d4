import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Docker from 'dockerode';
import { TEST_SRC } from './fixtures.js';
import { type ServerRow, get, statsServers } from './http.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export const REPO = `${TEST_SRC}../`;
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
export function buildImages(): Promise<string> {
  return run(['-f', 'compose.yml', 'build'], process.env, 1800000);
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
  readonly runId = randomBytes(4).toString('hex');
  readonly project = `lhtest${this.runId}`;
  private env: NodeJS.ProcessEnv = {};
  lbPort = 0;
  statsPort = 0;

  async up(o: StackOptions): Promise<this> {
    this.lbPort = await freePort();
    this.statsPort = await freePort();
    this.env = {
      ...process.env,
      COMPOSE_PROJECT_NAME: this.project,
      LB_PORT: String(this.lbPort),
      STATS_PORT: String(this.statsPort),
      ETCD_PORT: '',
      LEASEHOLD_RUN: this.runId,
      ...o.env,
    };
    await this.compose(['up', '-d', '--no-build', '--scale', `webapp=${o.webapps}`]);
    await waitFor(async () => (await get(`${this.statsUrl}/;csv`)).status === 200, 'stats page', 60000, 250);
    return this;
  }

  compose(args: string[], timeoutMs?: number): Promise<string> {
    return run(['-f', 'compose.yml', '-p', this.project, ...args], this.env, timeoutMs);
  }

  get url(): string {
    return `http://127.0.0.1:${this.lbPort}/`;
  }
  get statsUrl(): string {
    return `http://127.0.0.1:${this.statsPort}`;
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
    const ids = await Promise.all((await this.containers('webapp')).map(async (c) => (await docker.getContainer(c.Id).inspect()).Config.Hostname));
    return ids.sort();
  }

  /** The live records, as users see them: `compose exec etcd etcdctl get --prefix /nodes`. */
  async etcdRecords(): Promise<Record<string, any>[]> {
    const out = await this.compose(['exec', '-T', 'etcd', 'etcdctl', 'get', '--prefix', '/nodes', '--print-value-only']);
    return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  }

  /** Server rows of the stats CSV for a backend. */
  async stats(backend = 'webapp'): Promise<ServerRow[]> {
    return (await statsServers(this.statsUrl)).filter((r) => r.backend === backend);
  }

  /** Waits until HAProxy's UP servers, the etcd records and the running webapps are the same set. */
  async converged(timeoutMs = 30000): Promise<string[]> {
    return waitFor(
      async () => {
        const ids = await this.webappIds();
        const up = (await this.stats()).filter((s) => s.status === 'UP').map((s) => s.server).sort();
        const all = (await this.stats()).map((s) => s.server).sort();
        const recs = (await this.etcdRecords()).map((r) => r.id).sort();
        const same = (a: string[]) => a.join(',') === ids.join(',');
        return same(up) && same(all) && same(recs) ? ids : undefined;
      },
      'HAProxy, etcd and the running webapps to agree',
      timeoutMs,
      250,
    );
  }

  async logs(service: string): Promise<string> {
    return this.compose(['logs', '--no-color', service]);
  }

  async down(): Promise<void> {
    await this.compose(['down', '-v', '--remove-orphans', '-t', '5']).catch(() => undefined);
    // Anything left with our run label goes too.
    for (const c of await docker.listContainers({ all: true, filters: { label: [`leasehold.test-run=${this.runId}`] } })) {
      await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  }
}
