// compose.cluster.yml as a test stack: three etcd members, two LBs, webapps. One compose project
// per run, as ComposeStack, with both LBs' ports on 127.0.0.1.
import { ComposeStack, docker } from './compose.js';
import { inRotation, statsServers } from './http.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';
import type { StatusReport } from '../cli/report.js';

export const MEMBERS = ['etcd1', 'etcd2', 'etcd3'] as const;
export type Member = (typeof MEMBERS)[number];

export interface Lb {
  name: 'ha1' | 'ha2';
  url: string;
  statsUrl: string;
}

export class ClusterStack extends ComposeStack {
  lb2Port = 0;
  stats2Port = 0;

  constructor() {
    super('compose.cluster.yml');
    this.haService = 'ha1';
  }

  async upCluster(webapps: number, env: Record<string, string> = {}): Promise<this> {
    this.lb2Port = await freePort();
    this.stats2Port = await freePort();
    await this.up({ webapps, env: { LB2_PORT: String(this.lb2Port), STATS2_PORT: String(this.stats2Port), ...env } });
    return this;
  }

  get lbs(): [Lb, Lb] {
    return [
      { name: 'ha1', url: this.url, statsUrl: this.statsUrl },
      { name: 'ha2', url: `http://127.0.0.1:${this.lb2Port}/`, statsUrl: this.statsAt(this.stats2Port) },
    ];
  }

  /** `etcdctl` (root, inside the member) on the first running member of `from` that answers. */
  async etcdctl(args: string[], from: readonly Member[] = MEMBERS): Promise<string> {
    let last: unknown;
    for (const m of from) {
      const r = await this.exec(m, ['etcdctl', '--command-timeout=3s', ...args], 15000);
      if (r.code === 0) return r.stdout;
      last = `${m}: ${r.stderr.trim().split('\n').at(-1)}`;
    }
    throw new Error(`etcdctl ${args.join(' ')} failed on every member (last: ${last})`);
  }

  /** The live records, read from any member that answers. */
  override async etcdRecords(from: readonly Member[] = MEMBERS): Promise<Record<string, any>[]> {
    const out = await this.etcdctl(['get', '--prefix', '/nodes', '--print-value-only'], from);
    return out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  }

  /**
   * The member that leads now: the one of `from` whose own status says so (`etcdctl endpoint
   * status --cluster` fails as a whole while any member is away). A cut-off leader steps down
   * (etcd's check-quorum), so it never answers "leader" with the majority elsewhere.
   */
  async leader(from: readonly Member[] = MEMBERS): Promise<Member> {
    for (const m of from) {
      const r = await this.exec(m, ['etcdctl', '--command-timeout=2s', 'endpoint', 'status', '-w', 'simple'], 10000);
      // endpoint, ID, version, db size, is leader, ...
      if (r.code === 0 && r.stdout.split(', ')[4] === 'true') return m;
    }
    throw new Error(`no leader among ${from.join(', ')}`);
  }

  /** Every member answers health checks (from `from`'s point of view, over the cluster's member list). */
  async clusterHealthy(from: readonly Member[] = MEMBERS): Promise<boolean> {
    const out = JSON.parse(await this.etcdctl(['endpoint', 'health', '--cluster', '-w', 'json'], from)) as { endpoint: string; health: boolean }[];
    return out.length === 3 && out.every((e) => e.health);
  }

  async containerOf(service: string) {
    const [c] = await this.containers(service);
    if (!c) throw new Error(`no running ${service}`);
    return docker.getContainer(c.Id);
  }

  /** Node ids in rotation and UP on one LB's stats page (by the webapps' addresses). */
  async upOn(lb: Lb, backend = 'webapp'): Promise<string[]> {
    const byAddr = await this.byAddr();
    return (await statsServers(lb.statsUrl)).filter((r) => r.backend === backend && inRotation(r) && r.status === 'UP').map((r) => byAddr.get(r.addr) ?? r.addr).sort();
  }

  /** Waits until the running webapps, etcd's records and both LBs' slots UP in rotation are one set. */
  async convergedBoth(timeoutMs = 30000, lbs: Lb[] = this.lbs): Promise<string[]> {
    let last = '';
    return waitFor(
      async () => {
        const ids = await this.webappIds();
        const recs = (await this.etcdRecords()).map((r) => r.id).sort();
        const views = await Promise.all(lbs.map((lb) => this.upOn(lb)));
        last = `running ${ids} etcd ${recs} ${lbs.map((lb, i) => `${lb.name} ${views[i]}`).join(' ')}`;
        const same = (a: string[]) => a.join(',') === ids.join(',');
        return same(recs) && views.every(same) ? ids : undefined;
      },
      'both LBs, etcd and the running webapps to agree',
      timeoutMs,
      250,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; ${last}`);
    });
  }

  /** Runs a command in ha1 (what ComposeStack's `ha` is in compose.yml), e.g. for `haProc()`. */
  override async haExec(cmd: string): Promise<string> {
    return this.compose(['exec', '-T', 'ha1', 'sh', '-c', cmd]);
  }

  /** `leasehold status --json` in ha1: both renderers' views and the verdict. */
  async status(): Promise<StatusReport> {
    const r = await this.exec('ha1', ['leasehold', 'status', '--json']);
    if (r.code !== 0) throw new Error(`leasehold status exited ${r.code}: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  /** Cuts a member off the stack's network (from its peers and every client); returns how to reconnect it. */
  async partition(member: Member): Promise<() => Promise<void>> {
    const c = await this.containerOf(member);
    const info = await c.inspect();
    const [net] = Object.keys(info.NetworkSettings.Networks ?? {});
    if (!net) throw new Error(`${member} is on no network`);
    const network = docker.getNetwork(net);
    await network.disconnect({ Container: info.Id, Force: true });
    return async () => {
      await network.connect({ Container: info.Id, EndpointConfig: { Aliases: [member] } }); // the service name, which peers and clients dial
    };
  }
}
