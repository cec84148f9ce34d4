// The per-host agent against a real etcd and real apps on 127.0.0.1; the Docker engine is a
// stand-in that keeps a container table and sends its events (the compose stack's e2e test
// drives a real one).
import { createServer } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { createEtcdGateway } from '../../common/etcd-gateway.js';
import { Agent, type AgentEvents } from '../../registrar/agent.js';
import type { ContainerEvent, ContainerView, DockerEngine, EventStream } from '../../registrar/docker-engine.js';
import { registrarOptionsFromEnv } from '../../registrar/options.js';
import { TestEtcd } from '../../harness/etcd.js';
import { freePort } from '../../harness/ports.js';
import { sleep, waitFor } from '../../harness/wait.js';

class FakeEngine implements DockerEngine {
  containers = new Map<string, ContainerView>();
  private listeners = new Set<{ labels: string[]; on: (e: ContainerEvent) => void; end: (err: Error) => void }>();
  streams = 0;
  private matches(c: ContainerView, labels: string[]): boolean {
    return labels.every((l) => {
      const [k, v] = l.split('=');
      return v === undefined ? k! in c.labels : c.labels[k!] === v;
    });
  }
  async list(labels: string[]) {
    return [...this.containers.values()].filter((c) => this.matches(c, labels)).map((c) => ({ ...c, hostname: undefined, health: undefined }));
  }
  async inspect(id: string) {
    const c = this.containers.get(id);
    return c && { ...c };
  }
  async events(labels: string[], on: (e: ContainerEvent) => void): Promise<EventStream> {
    this.streams++;
    let end!: (err: Error) => void;
    const ended = new Promise<Error>((r) => (end = r));
    const l = { labels, on, end };
    this.listeners.add(l);
    return { ended, close: () => this.listeners.delete(l) };
  }
  send(id: string, action: string, signal?: string): void {
    const c = this.containers.get(id);
    for (const l of this.listeners) if (!c || this.matches(c, l.labels)) l.on({ id, action, ...(signal && { signal }) });
  }
  start(c: ContainerView): void {
    this.containers.set(c.id, c);
    this.send(c.id, 'start');
  }
  /** `docker stop`: TERM, then the container is gone. */
  stop(id: string): void {
    this.send(id, 'kill', '15');
    this.containers.delete(id);
    this.send(id, 'die');
  }
  /** dockerd restarted: every stream ends. */
  restart(): void {
    for (const l of this.listeners) l.end(new Error('dockerd restarted'));
    this.listeners.clear();
  }
}

async function app(status = 200) {
  const port = await freePort();
  const a = { port, status, close: () => new Promise<void>((r) => server.close(() => r())) };
  const server = createServer((_q, res) => void res.writeHead(a.status).end('ok')).listen(port, '127.0.0.1');
  return a;
}

/** A container whose id starts with `id` padded to 12 characters: its node id. */
const container = (id: string, port: number, labels: Record<string, string> = {}, o: Partial<ContainerView> = {}): ContainerView => ({
  id: `${id.padEnd(12, '0')}${'f'.repeat(52)}`,
  name: `proj-${id}-1`,
  hostname: id,
  labels: { 'leasehold.service': 'labelled', 'leasehold.port': String(port), 'com.docker.compose.project': 'proj', ...labels },
  networks: { proj_default: '127.0.0.1' },
  ...o,
});

/** The key of a container made by `container(id, ...)`. */
const key = (id: string) => `/nodes/labelled/${id.padEnd(12, '0')}`;

async function setup(t: ExecutionContext, services = ['labelled'], resyncMs = 60000) {
  const etcd = await TestEtcd.start();
  const engine = new FakeEngine();
  const store = await createEtcdGateway({ endpoints: [etcd.endpoint], callTimeoutMs: 2000, dialTimeoutMs: 2000 });
  const base = registrarOptionsFromEnv({ LEASE_TTL: '2', CHECK_INTERVAL_MS: '200', REGISTRAR_HEALTH_PORT: '0' }, 'agent');
  const events: string[] = [];
  const agents: Agent[] = [];
  const make = () => {
    const agent = new Agent({ base, services, scope: ['com.docker.compose.project=proj'], networks: ['proj_default'], resyncMs }, { engine, storeFor: () => store });
    agent.on('node', (e) => events.push(`node:${e.change}:${e.id}`));
    agent.on('refused', (e) => events.push(`refused:${e.container}:${e.reason}`));
    agent.on('engine', (e) => events.push(`engine:${e.state}`));
    agent.on('registrar', (x: AgentEvents['registrar'][0]) => x.name === 'state' && events.push(`state:${x.container}:${x.e.state}`));
    agents.push(agent);
    agent.start();
    return agent;
  };
  t.teardown(async () => {
    for (const a of agents) await a.stopAll();
    store.close();
    await etcd.stop();
  });
  const records = async () => {
    const all = await etcd.client.getAll().prefix('/nodes/').strings();
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, JSON.parse(v)]));
  };
  const leases = async (key: string) => (await etcd.client.get(key).exec()).kvs.map((kv) => String(kv.lease));
  return { etcd, engine, make, events, records, leases };
}

test('a labelled container is registered once its app answers: its address, port and name, on a lease of its own', async (t) => {
  const { engine, make, records, leases } = await setup(t);
  const a = await app(503);
  t.teardown(a.close);
  make();
  const c = container('web1', a.port, { 'leasehold.health': '/health' });
  engine.start(c);
  await sleep(600);
  t.deepEqual(await records(), {}, 'not before its app answers 2xx');
  a.status = 200;
  await waitFor(async () => (await records())[key('web1')], 'registered');
  const r = (await records())[key('web1')];
  t.like(r, { id: 'web100000000', service: 'labelled', address: '127.0.0.1', port: a.port, tag: 'proj-web1-1', state: 'up' });
  t.not((await leases(key('web1')))[0], '0');
});

test('docker stop: the record is marked leaving and its lease revoked at the TERM signal, before the container is gone', async (t) => {
  const { engine, make, records, etcd, events } = await setup(t);
  const a = await app();
  t.teardown(a.close);
  make();
  const c = container('web1', a.port);
  engine.start(c);
  await waitFor(async () => (await records())[key('web1')], 'registered (a TCP check: no health label, no HEALTHCHECK)');
  const seen: string[] = [];
  const w = await etcd.client.watch().key(key('web1')).create();
  t.teardown(() => w.cancel());
  w.on('put', (kv) => seen.push(JSON.parse(kv.value.toString()).state));
  w.on('delete', () => seen.push('deleted'));
  const stopped = performance.now();
  engine.send(c.id, 'kill', '15'); // the container still runs: it was only asked to stop
  await waitFor(async () => !(await records())[key('web1')], 'gone', 5000, 20);
  t.log(`record gone ${Math.round(performance.now() - stopped)} ms after the TERM event`);
  t.true(performance.now() - stopped < 2000);
  await waitFor(() => seen.includes('deleted'), 'the delete watched');
  t.deepEqual(seen, ['leaving', 'deleted'], 'a graceful leave: the renderer applies it at once');
  t.true(events.includes('node:left:web100000000'));
});

test('a label for a service the agent holds no credentials for is refused and reported once; a bad port too', async (t) => {
  const { engine, make, records, events } = await setup(t);
  const a = await app();
  t.teardown(a.close);
  make();
  engine.start(container('sneaky', a.port, { 'leasehold.service': 'webapp' }));
  engine.start(container('badport', a.port, { 'leasehold.port': '70000' }));
  engine.start(container('ok', a.port));
  await waitFor(async () => (await records())[key('ok')], 'the good one registered');
  await sleep(500);
  t.deepEqual(Object.keys(await records()), [key('ok')]);
  const refused = events.filter((e) => e.startsWith('refused:'));
  t.is(refused.length, 2, refused.join('\n'));
  t.regex(refused.find((e) => e.includes('sneaky'))!, /registers only labelled/);
  t.regex(refused.find((e) => e.includes('badport'))!, /a port 1-65535/);
});

test('a container whose image has a HEALTHCHECK joins when Docker says healthy and leaves after CHECK_FALL unhealthy checks', async (t) => {
  const { engine, make, records } = await setup(t);
  make();
  // No app at all: only Docker's health status counts.
  const c = container('hc', 1, {}, { health: 'starting' });
  engine.start(c);
  await sleep(600);
  t.deepEqual(await records(), {});
  engine.containers.get(c.id)!.health = 'healthy';
  engine.send(c.id, 'health_status: healthy');
  await waitFor(async () => (await records())[key('hc')], 'registered');
  engine.send(c.id, 'health_status: unhealthy');
  await waitFor(async () => !(await records())[key('hc')], 'out after 3 failed checks (200 ms apart)', 5000);
});

test('the agent replaced (abandoned, a new one started): the records stay, on new leases, one per container', async (t) => {
  const { engine, make, records, leases, etcd } = await setup(t);
  const a = await app();
  t.teardown(a.close);
  const first = make();
  for (const id of ['w1', 'w2']) engine.start(container(id, a.port));
  await waitFor(async () => Object.keys(await records()).length === 2, 'both registered');
  const before = await leases(key('w1'));
  await first.abandon(); // its leases are left to expire (TTL 2 s)
  make();
  await waitFor(async () => (await leases(key('w1')))[0] !== before[0], 'w1 on a new lease');
  const now = await leases(key('w1'));
  for (let i = 0; i < 15; i++) {
    await sleep(200); // past the old leases' TTL: nothing ever goes missing
    t.deepEqual(Object.keys(await records()).sort(), [key('w1'), key('w2')].sort());
    t.deepEqual(await leases(key('w1')), now, 'the old agent does not take it back');
  }
  const old = await etcd.client.leaseClient.leaseTimeToLive({ ID: before[0]!, keys: false });
  t.is(String(old.TTL), '-1', 'the old lease expired: nothing keeps it alive');
});

test('the engine lost and back: the agent lists again, letting go of a container that died in the gap and taking on one that started', async (t) => {
  const { engine, make, records, events } = await setup(t);
  const a = await app();
  t.teardown(a.close);
  make();
  const gone = container('gone', a.port);
  engine.start(gone);
  await waitFor(async () => (await records())[key('gone')], 'registered');
  engine.restart();
  engine.containers.delete(gone.id); // died while nobody listened
  engine.containers.set(container('new', a.port).id, container('new', a.port));
  await waitFor(async () => {
    const keys = Object.keys(await records());
    return keys.length === 1 && keys[0] === key('new');
  }, 'listed again');
  t.true(events.includes('engine:lost'));
  t.true(engine.streams >= 2);
});

test('two containers with the same hostname get a record each: the node id is the container id, which no container picks', async (t) => {
  const { engine, make, records } = await setup(t);
  const a = await app();
  t.teardown(a.close);
  make();
  engine.start(container('one', a.port, {}, { hostname: 'web' }));
  engine.start(container('two', a.port, {}, { hostname: 'web' }));
  await waitFor(async () => Object.keys(await records()).length === 2, 'two records');
  t.deepEqual(Object.keys(await records()).sort(), [key('one'), key('two')]);
});

test('a container told to stop still lists as running through its grace period: the relists never take it on again', async (t) => {
  const { engine, make, records, events } = await setup(t, ['labelled'], 200);
  const a = await app();
  t.teardown(a.close);
  make();
  const c = container('slow', a.port);
  engine.start(c);
  await waitFor(async () => (await records())[key('slow')], 'registered');
  engine.send(c.id, 'kill', '15'); // it goes on running (a 30 s grace period, say)
  await waitFor(async () => !(await records())[key('slow')], 'gone at TERM');
  await sleep(1500); // seven relists
  t.falsy((await records())[key('slow')]);
  t.is(events.filter((e) => e === 'node:watching:slow00000000').length, 1, 'taken on once');
  engine.containers.delete(c.id);
  engine.send(c.id, 'die');
  engine.start(c); // started again: a new life, taken on again
  await waitFor(async () => (await records())[key('slow')], 'registered again');
});

test("a container's own STOPSIGNAL (SIGWINCH for httpd, SIGQUIT for nginx) is a stop too", async (t) => {
  const { engine, make, records } = await setup(t);
  const a = await app();
  t.teardown(a.close);
  make();
  const c = container('winch', a.port, {}, { stopSignal: 'SIGWINCH' });
  engine.start(c);
  await waitFor(async () => (await records())[key('winch')], 'registered');
  engine.send(c.id, 'kill', '28');
  await waitFor(async () => !(await records())[key('winch')], 'gone at its stop signal', 3000);
  t.pass();
});

test('a refusal is reported once per container however many relists see it; a huge label is cut short in the report', async (t) => {
  const { engine, make, events } = await setup(t, ['labelled'], 200);
  make();
  engine.start(container('huge', 80, { 'leasehold.service': 'x'.repeat(100000) }));
  await sleep(1500);
  const refused = events.filter((e) => e.startsWith('refused:'));
  t.is(refused.length, 1);
  t.true(refused[0]!.length < 400, `${refused[0]!.length} characters`);
});

test('stopped while a container is being taken on: no registrar starts after it, no record, no lease', async (t) => {
  const { engine, make, records, etcd } = await setup(t);
  const a = await app();
  t.teardown(a.close);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const inspect = engine.inspect.bind(engine);
  engine.inspect = async (id) => (await gate, inspect(id));
  const agent = make();
  engine.start(container('late', a.port));
  await sleep(200);
  const stopped = agent.stopAll();
  await sleep(100);
  release();
  await stopped;
  await sleep(1000);
  t.deepEqual(await records(), {});
  t.is((await etcd.client.leaseClient.leaseLeases({})).leases.length, 0);
});
