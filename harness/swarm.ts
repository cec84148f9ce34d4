// A leasehold stack on a single-node Docker Swarm, as docs/deploy.md's runbook deploys it, for the
// e2e test and the benchmark: `docker stack deploy -c stack.yml` (no published port: swarm
// publishes on every interface), secrets from scripts/stack-secrets.sh, and everything removed
// afterwards. Traffic goes from a container on the stack's attachable overlay network.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { REPO, image } from './compose.js';
import type { LoadOptions, Sample } from './load.js';
import { waitFor } from './wait.js';

/** `docker <args>`: stdout, or an error with the end of stderr. */
export function docker(args: string[], o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('docker', args, { cwd: REPO, env: o.env ?? process.env, timeout: o.timeoutMs ?? 300000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`docker ${args.join(' ')} failed: ${err.message}\n${stderr.slice(-3000)}`));
      else resolve(stdout);
    });
  });
}

export interface StatsRow {
  server: string;
  status: string;
  addr: string;
}

export interface SwarmLoadResult {
  requests: number;
  failed: number;
  p50: number;
  p99: number;
  seconds: number;
  firstFailures: Sample[];
  byHost: Record<string, number>;
}

const LABELS = ['leasehold.etcd1', 'leasehold.etcd2', 'leasehold.etcd3'];

export class SwarmStack {
  readonly runId = randomBytes(4).toString('hex');
  readonly name = `lhswarm${this.runId}`;
  /** The overlay's subnet: one of 10.233.0.0/16's /24s, so that it overlaps no other stack's. */
  readonly subnet = `10.233.${parseInt(this.runId.slice(0, 2), 16)}.0/24`;
  private createdSwarm = false;
  private addedLabels: string[] = [];
  private nodeId = '';
  private readonly env: NodeJS.ProcessEnv = {
    ...process.env,
    LEASEHOLD_SECRETS: this.name,
    LEASEHOLD_SUBNET: this.subnet,
  };

  get network(): string {
    return `${this.name}_leasehold`;
  }
  service(s: 'webapp' | 'ha' | 'etcd1' | 'etcd2' | 'etcd3'): string {
    return `${this.name}_${s}`;
  }

  /**
   * A swarm bound to loopback if there is none (left again by remove()), the etcd labels on this
   * node, the secrets, then `docker stack deploy`. Resolves once `webapps` nodes are UP in HAProxy.
   */
  async deploy(webapps = 2, timeoutMs = 180000): Promise<number> {
    const t0 = Date.now();
    if ((await docker(['info', '-f', '{{.Swarm.LocalNodeState}}'])).trim() !== 'active') {
      await docker(['swarm', 'init', '--advertise-addr', '127.0.0.1', '--listen-addr', '127.0.0.1:2377']);
      this.createdSwarm = true;
    }
    this.nodeId = (await docker(['info', '-f', '{{.Swarm.NodeID}}'])).trim();
    const have = JSON.parse(await docker(['node', 'inspect', '-f', '{{json .Spec.Labels}}', this.nodeId])) ?? {};
    this.addedLabels = LABELS.filter((l) => have[l] !== 'true');
    if (this.addedLabels.length) await docker(['node', 'update', ...this.addedLabels.flatMap((l) => ['--label-add', `${l}=true`]), this.nodeId]);
    await new Promise<void>((resolve, reject) =>
      execFile('bash', ['scripts/stack-secrets.sh'], { cwd: REPO, env: this.env, timeout: 120000 }, (err, _o, stderr) => (err ? reject(new Error(`stack-secrets.sh: ${stderr}`)) : resolve())),
    );
    await docker(['stack', 'deploy', '-c', 'stack.yml', this.name], { env: this.env });
    if (webapps !== 2) await this.scale(webapps);
    await this.untilUp(webapps, timeoutMs);
    return Date.now() - t0;
  }

  /** `docker service scale <stack>_webapp=<n>`, without waiting. */
  async scale(n: number): Promise<void> {
    await docker(['service', 'scale', '--detach', `${this.service('webapp')}=${n}`]);
  }

  /** `docker service update --force <stack>_webapp`: a rolling restart; resolves when swarm says it is done. */
  async rollingRestart(timeoutMs = 240000): Promise<number> {
    const t0 = Date.now();
    await docker(['service', 'update', '--force', '--detach=false', '--quiet', this.service('webapp')], { timeoutMs });
    return Date.now() - t0;
  }

  /** Every running task container of a service on this node. */
  async containers(s: 'webapp' | 'ha'): Promise<string[]> {
    return (await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${this.service(s)}`, '--filter', 'status=running'])).trim().split('\n').filter(Boolean);
  }

  /** The running task's container of a service on this node. */
  async container(s: 'webapp' | 'ha' | 'etcd1' | 'etcd2' | 'etcd3'): Promise<string> {
    const id = (await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${this.service(s)}`, '--filter', 'status=running'])).trim().split('\n')[0];
    if (!id) throw new Error(`no running ${s} task`);
    return id;
  }
  haContainer(): Promise<string> {
    return this.container('ha');
  }

  /** `etcdctl <args>` in etcd1's task, as etcd's root (the image's settings). */
  async etcdctl(args: string[]): Promise<string> {
    return docker(['exec', await this.container('etcd1'), 'etcdctl', ...args], { timeoutMs: 20000 });
  }

  /** Ports the stack's services publish (none, without stack.publish.yml). */
  async publishedPorts(): Promise<string[]> {
    const names = ['webapp', 'ha', 'etcd1', 'etcd2', 'etcd3'] as const;
    const out = await docker(['service', 'inspect', '-f', '{{.Spec.Name}} {{json .Endpoint.Ports}}', ...names.map((n) => this.service(n))]);
    return out.trim().split('\n').filter((l) => !/ (null|\[\])$/.test(l));
  }

  /** HAProxy's server rows for the webapp backend, read from the stats page inside the ha container. */
  async stats(ha?: string): Promise<StatsRow[]> {
    const csv = await docker([
      'exec', ha ?? (await this.haContainer()), 'bash', '-c',
      'a=$(printf leasehold:%s "$(cat /etc/leasehold/pki/stats-password)" | base64 -w0) && exec 3<>/dev/tcp/127.0.0.1/1936 && printf "GET /;csv HTTP/1.0\\r\\nHost: localhost\\r\\nAuthorization: Basic %s\\r\\n\\r\\n" "$a" >&3 && cat <&3',
    ], { timeoutMs: 10000 });
    const lines = csv.slice(csv.indexOf('# ')).split('\n');
    const header = lines[0]!.replace(/^# /, '').split(',');
    const col = (r: string[], n: string) => r[header.indexOf(n)] ?? '';
    return lines
      .slice(1)
      .map((l) => l.trim().split(','))
      .filter((r) => r[0] === 'webapp' && r[1] !== 'FRONTEND' && r[1] !== 'BACKEND')
      .map((r) => ({ server: r[1]!, status: col(r, 'status'), addr: col(r, 'addr') }));
  }

  /** Addresses HAProxy has UP in the webapp backend. */
  async upAddresses(): Promise<string[]> {
    return (await this.stats()).filter((r) => r.status === 'UP').map((r) => r.addr).sort();
  }

  /** The overlay addresses (`ip:3000`) of the webapp tasks that are running now. */
  async taskAddresses(): Promise<string[]> {
    const ids = (await docker(['ps', '-q', '--filter', `label=com.docker.swarm.service.name=${this.service('webapp')}`, '--filter', 'status=running'])).trim().split('\n').filter(Boolean);
    if (!ids.length) return [];
    const out = await docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${this.network}").IPAddress}}`, ...ids]);
    return out.trim().split('\n').map((ip) => `${ip}:3000`).sort();
  }

  /** Waits until exactly `n` servers are UP in HAProxy and they are the running tasks' overlay addresses. */
  async untilUp(n: number, timeoutMs: number): Promise<string[]> {
    let last = '';
    return waitFor(
      async () => {
        const [up, tasks] = [await this.upAddresses(), await this.taskAddresses()];
        last = `HAProxy UP ${up.join(' ')}; running tasks ${tasks.join(' ')}`;
        return up.length === n && up.join() === tasks.join() ? up : undefined;
      },
      `${n} webapps UP in HAProxy`,
      timeoutMs,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; ${last}`);
    });
  }

  /**
   * A bounded keep-alive load (load.ts) from a container on the stack's overlay to the LB
   * (`http://ha/`). Resolves once it runs; `stop()` ends it and returns its summary.
   */
  async startLoad(o: LoadOptions): Promise<{ stop(): Promise<SwarmLoadResult> }> {
    const args = [
      'run', '--rm', '-i', '--name', `${this.name}-load-${randomBytes(2).toString('hex')}`, '--label', `leasehold.test-run=${this.runId}`,
      '--network', this.network, '--no-healthcheck',
      '-v', `${REPO}dist:/t/dist:ro`, '-v', `${REPO}package.json:/t/package.json:ro`,
      image('webapp'), 'node', '/t/dist/harness/swarm-load.js', JSON.stringify({ url: 'http://ha/', ...o }),
    ];
    const child: ChildProcess = spawn('docker', args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const lines = createInterface({ input: child.stdout! });
    const next = () =>
      new Promise<string>((resolve, reject) => {
        const onExit = () => reject(new Error(`load container exited: ${stderr.slice(-2000)}`));
        child.once('exit', onExit);
        lines.once('line', (l) => {
          child.off('exit', onExit);
          resolve(l);
        });
      });
    await next(); // {"started":true}
    const result = next();
    return {
      async stop() {
        child.stdin!.end('stop\n');
        return JSON.parse(await result) as SwarmLoadResult;
      },
    };
  }

  /** Removes the stack, then its volumes, secrets and load containers; the labels and the swarm only if this run added them. */
  async remove(): Promise<void> {
    const quiet = (p: Promise<unknown>) => p.catch(() => undefined);
    const loads = ((await quiet(docker(['ps', '-aq', '--filter', `label=leasehold.test-run=${this.runId}`]))) as string | undefined)?.trim().split('\n').filter(Boolean) ?? [];
    if (loads.length) await quiet(docker(['rm', '-f', ...loads]));
    await quiet(docker(['stack', 'rm', this.name]));
    // stack rm returns at once: wait for its containers and network to go before removing volumes.
    await quiet(
      waitFor(
        async () => (await docker(['ps', '-aq', '--filter', `label=com.docker.stack.namespace=${this.name}`])).trim() === '' && !(await docker(['network', 'ls', '-q', '--filter', `name=${this.network}`])).trim(),
        'the stack to go',
        60000,
        500,
      ),
    );
    const volumes = (((await quiet(docker(['volume', 'ls', '-q', '--filter', `label=com.docker.stack.namespace=${this.name}`]))) as string | undefined) ?? '').trim().split('\n').filter(Boolean);
    if (volumes.length) await quiet(docker(['volume', 'rm', ...volumes]));
    await quiet(new Promise<void>((resolve) => execFile('bash', ['scripts/stack-secrets.sh', '--remove'], { cwd: REPO, env: this.env }, () => resolve())));
    if (this.addedLabels.length && this.nodeId) await quiet(docker(['node', 'update', ...this.addedLabels.flatMap((l) => ['--label-rm', l]), this.nodeId]));
    if (this.createdSwarm) {
      await quiet(docker(['swarm', 'leave', '--force']));
      // swarm init made it and leave keeps it.
      await quiet(docker(['network', 'rm', 'docker_gwbridge']));
    }
  }
}
