// The renderer against a real etcd and a real HAProxy (the host's, 2.6 on Debian 12): membership
// through the runtime API with no reload, drift repaired, restarts adopted, refusals contained.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { Etcd3 } from 'etcd3';
import { DEFAULT_TEMPLATE } from '../../renderer/options.js';
import { RuntimeChannel } from '../../renderer/runtime.js';
import { parseServersState } from '../../renderer/runtime-state.js';
import { EtcdStore } from '../../common/store.js';
import { TestEtcd } from '../../harness/etcd.js';
import { TestHaproxy } from '../../harness/haproxy.js';
import { get, inRotation, tags } from '../../harness/http.js';
import { freePort } from '../../harness/ports.js';
import { type Proc, node } from '../../harness/process.js';
import { type App, startApp, stopApp } from '../../harness/stack.js';
import { sleep, waitFor } from '../../harness/wait.js';

interface Stack {
  etcd: TestEtcd;
  ha: TestHaproxy;
  renderer: Proc;
  healthPort: number;
  env: Record<string, string>;
  apps: App[];
}

/** `seed`: what etcd holds before the renderer starts (as a restarted load balancer meets it). */
async function stack(t: ExecutionContext, appTags: string[], env: Record<string, string> = {}, seed?: (etcd: TestEtcd) => Promise<void>): Promise<Stack> {
  const etcd = await TestEtcd.start();
  const ha = await TestHaproxy.start();
  const healthPort = await freePort();
  // Everything runs on 127.0.0.1 here: local nodes allowed (never in a container deployment).
  const full = { ETCD_ENDPOINTS: etcd.endpoint, ...ha.rendererEnv(), RENDERER_HEALTH_PORT: String(healthPort), RECONCILE_INTERVAL_MS: '1000', ALLOW_LOCAL_NODES: '1', ROUTES: 'api.test=api', ...env };
  try {
    await seed?.(etcd);
  } catch (err) {
    await ha.stop();
    await etcd.stop();
    throw err;
  }
  const s: Stack = { etcd, ha, renderer: node('renderer', 'renderer/main.js', full), healthPort, env: full, apps: [] };
  s.apps = await Promise.all(appTags.map((tag) => startApp(tag, etcd.endpoint)));
  t.teardown(async () => {
    await Promise.all(s.apps.map(stopApp));
    await s.renderer.stop();
    await ha.stop();
    await etcd.stop();
  });
  return s;
}

const reloads = (r: Proc) => r.events().filter((e) => e.event === 'reload');
const record = (id: string, port: number, o: { address?: string; weight?: number; service?: string } = {}) =>
  JSON.stringify({ id, service: o.service ?? 'webapp', address: o.address ?? '127.0.0.1', port, tag: id, weight: o.weight ?? 1, state: 'up', registeredAt: new Date().toISOString() });

/** Node ids by the address HAProxy sees: the test apps, plus records a test wrote by hand. */
function idsByAddr(s: Stack, extra: Record<string, number> = {}): Map<string, string> {
  return new Map([...s.apps.map((a): [string, string] => [`127.0.0.1:${a.port}`, a.tag]), ...Object.entries(extra).map(([id, port]): [string, string] => [`127.0.0.1:${port}`, id])]);
}

/** The node ids HAProxy has in rotation in `backend` and their status, read from its stats page. */
async function inHaproxy(s: Stack, backend = 'webapp', extra: Record<string, number> = {}): Promise<Record<string, string>> {
  const ids = idsByAddr(s, extra);
  const out: Record<string, string> = {};
  for (const r of (await s.ha.servers()).filter((r) => r.backend === backend && inRotation(r))) out[ids.get(r.addr) ?? r.addr] = r.status;
  return out;
}

/** Waits until exactly these nodes are in rotation in `backend`, all UP. */
async function waitForNodes(s: Stack, expected: string[], o: { backend?: string; extra?: Record<string, number>; timeoutMs?: number } = {}): Promise<void> {
  const want = [...expected].sort().join(',');
  let last: Record<string, string> = {};
  await waitFor(
    async () => {
      last = await inHaproxy(s, o.backend, o.extra);
      return Object.values(last).every((v) => v === 'UP') && Object.keys(last).sort().join(',') === want;
    },
    `nodes [${want}] UP in ${o.backend ?? 'webapp'} (last: ${JSON.stringify(last)})`,
    o.timeoutMs ?? 15000,
  );
}

const metrics = async (s: Stack) => (await get(`http://127.0.0.1:${s.healthPort}/metrics`)).text;
const health = async (s: Stack) => (await get(`http://127.0.0.1:${s.healthPort}/health`)).status;

const MiB = 1024 * 1024;
/** About the largest value etcd takes with its default --max-request-bytes (1.5 MiB, key and framing included). */
const BIG = 1.5 * MiB - 1024;

test.serial('joins, graceful leaves and crashes change membership with no reload: the worker PID stays', async (t) => {
  const s = await stack(t, ['w1', 'w2', 'w3']);
  await waitForNodes(s, ['w1', 'w2', 'w3']);
  t.deepEqual([...new Set(await tags(s.ha.url, 30))].sort(), ['w1', 'w2', 'w3']);
  const before = await s.ha.control.showProc();

  s.apps.push(await startApp('w4', s.etcd.endpoint));
  await waitForNodes(s, ['w1', 'w2', 'w3', 'w4']);
  await waitFor(async () => (await tags(s.ha.url, 8)).includes('w4'), 'w4 served');

  // Graceful: the registrar revokes its lease on SIGTERM.
  await s.apps[1]!.registrar.stop();
  await waitForNodes(s, ['w1', 'w3', 'w4']);
  t.false((await tags(s.ha.url, 20)).includes('w2'));

  // Crash: nothing revokes; the lease (TTL 2 s) expires.
  s.apps[2]!.registrar.signal('SIGKILL');
  s.apps[2]!.app.signal('SIGKILL');
  await waitForNodes(s, ['w1', 'w4'], { timeoutMs: 20000 });

  const after = await s.ha.control.showProc();
  t.is(after.reloads, before.reloads, 'no reload');
  t.is(after.workers.find((w) => w.reloads === 0)?.pid, before.workers.find((w) => w.reloads === 0)?.pid, 'same worker');
  t.is(reloads(s.renderer).length, 1, 'one reload in all: the first structure');
  const health = await get(`http://127.0.0.1:${s.healthPort}/health`);
  t.is(health.status, 200);
  t.like(health.body, { etcd: 'connected', haproxy: 'reachable', nodes: 2, structureLive: true, converged: true });
  // Operators find node ids: in /status (slot → node) and in the config's comments.
  const status = (await get(`http://127.0.0.1:${s.healthPort}/status`)).body;
  t.deepEqual(status.backends.webapp.filter((x: { state: string }) => x.state === 'ready').map((x: { node: string }) => x.node).sort(), ['w1', 'w4']);
  await waitFor(() => /# webapp\/w4/.test(readFileSync(s.ha.configPath, 'utf8')), 'the config on disk names the nodes');
});

test.serial('drift repros converge within one reconcile interval: put+delete 10 ms apart, delete+put back', async (t) => {
  const s = await stack(t, ['w1']);
  await waitForNodes(s, ['w1']);
  const ghost = s.apps[0]!.port;
  // A ghost record of w1's address under another id: put, and deleted 10 ms later.
  await s.etcd.putLeased('/nodes/webapp/ghost', record('ghost', ghost, { address: '127.0.0.2' }));
  await sleep(10);
  await s.etcd.client.delete().key('/nodes/webapp/ghost');
  // w1: deleted and put back before anything else happens.
  const w1 = await s.etcd.client.get('/nodes/webapp/w1').string();
  const lease = (await s.etcd.client.get('/nodes/webapp/w1').exec()).kvs[0]!.lease;
  await s.etcd.client.delete().key('/nodes/webapp/w1');
  await s.etcd.client.put('/nodes/webapp/w1').value(w1!).lease(lease);
  await sleep(1500); // one reconcile interval (1 s here) and some
  const rows = (await s.ha.servers()).filter((r) => r.backend === 'webapp');
  t.deepEqual(rows.filter(inRotation).map((r) => `${r.addr} ${r.status}`), [`127.0.0.1:${ghost} UP`], JSON.stringify(rows));
  t.is(reloads(s.renderer).length, 1);
  const served = await tags(s.ha.url, 10);
  t.deepEqual([...new Set(served)], ['w1']);
});

test.serial('a server put in MAINT (or drained, or re-weighted) by hand on the admin socket is put back', async (t) => {
  const s = await stack(t, ['w1', 'w2']);
  await waitForNodes(s, ['w1', 'w2']);
  const admin = new RuntimeChannel({ socket: s.ha.adminSocket, batchSize: 100, timeoutMs: 2000 });
  const [state] = await admin.run(['show servers state webapp']);
  const used = parseServersState(state!).filter((x) => (x.admin & 0x01) === 0).map((x) => x.server);
  t.is(used.length, 2);
  await admin.run([`set server webapp/${used[0]} state maint`, `set server webapp/${used[1]} weight 3`, 'set server webapp/s9 state ready']);
  await waitFor(async () => (await s.ha.servers()).some((r) => r.backend === 'webapp' && r.server === used[0] && r.status === 'MAINT') === false, 'MAINT undone', 5000);
  await waitForNodes(s, ['w1', 'w2']);
  await waitFor(async () => /leasehold_drift_repaired_total 3/.test(await metrics(s)), 'three servers repaired and counted', 5000);
  t.is((await s.ha.servers()).find((r) => r.backend === 'webapp' && r.server === used[1])?.weight, 100, 'the registrar\'s weight');
  // Its log line may reach us after HAProxy shows the repair.
  t.true(await waitFor(() => s.renderer.events().some((e) => e.event === 'drift' && e.server === used[0] && e.fields.includes('admin')), 'the drift logged', 5000).then(() => true, () => false));
  t.is(reloads(s.renderer).length, 1);
});

test.serial('a change reads back only what it touched; drift in a server it did not touch is repaired within the reconcile interval', async (t) => {
  const s = await stack(t, ['w1', 'w2']);
  await waitForNodes(s, ['w1', 'w2']);
  const admin = new RuntimeChannel({ socket: s.ha.adminSocket, batchSize: 100, timeoutMs: 2000 });
  const [state] = await admin.run(['show servers state webapp']);
  const w1 = parseServersState(state!).find((x) => (x.admin & 0x01) === 0 && x.port === s.apps[0]!.port)!.server;
  // Drift by hand, then at once a change elsewhere: the change's pass reads back its own server.
  await admin.run([`set server webapp/${w1} weight 9`]);
  const extraPort = await freePort();
  await s.etcd.putLeased('/nodes/webapp/x1', record('x1', extraPort));
  await waitFor(async () => (await s.ha.servers()).some((r) => r.backend === 'webapp' && r.addr === `127.0.0.1:${extraPort}` && inRotation(r)), 'x1 joined', 5000);
  // RECONCILE_INTERVAL_MS is 1 s: repaired within a few intervals, by the whole compare.
  await waitFor(async () => (await s.ha.servers()).find((r) => r.backend === 'webapp' && r.server === w1)?.weight === 100, 'the weight put back', 5000);
  t.true(await waitFor(() => s.renderer.events().some((e) => e.event === 'drift' && e.server === w1 && e.fields.includes('weight')), 'the drift logged', 5000).then(() => true, () => false));
  t.is(reloads(s.renderer).length, 1, 'no reload');
});

test.serial('a restarted renderer attaches to the running HAProxy: no reload, same slots', async (t) => {
  const s = await stack(t, ['w1', 'w2']);
  await waitForNodes(s, ['w1', 'w2']);
  const slotsBefore = (await s.ha.servers()).map((r) => `${r.server}=${r.addr} ${r.status}`);
  const proc = await s.ha.control.showProc();
  await s.renderer.stop();
  s.renderer = node('renderer', 'renderer/main.js', s.env);
  await s.renderer.waitForEvent((e) => e.event === 'store' && e.state === 'synced', 'listed');
  await waitFor(async () => (await get(`http://127.0.0.1:${s.healthPort}/health`)).status === 200, 'healthy');
  t.is((await s.ha.control.showProc()).reloads, proc.reloads, 'no reload');
  t.deepEqual((await s.ha.servers()).map((r) => `${r.server}=${r.addr} ${r.status}`), slotsBefore);
  t.false(s.renderer.events().some((e) => e.event === 'reconciled'), 'nothing to set');
  // And it goes on from there.
  s.apps.push(await startApp('w3', s.etcd.endpoint));
  await waitForNodes(s, ['w1', 'w2', 'w3']);
});

test.serial('a malformed record is skipped and reported by key; the good ones keep serving', async (t) => {
  const s = await stack(t, ['w1']);
  await waitForNodes(s, ['w1']);
  await s.etcd.putLeased('/nodes/webapp/evil', '{"id":"evil\\n    server x 6.6.6.6:80","service":"webapp"}');
  await s.etcd.putLeased('/nodes/webapp/notjson', 'nope');
  const rejected = await s.renderer.waitForEvent((e) => e.event === 'rejected' && e.key === '/nodes/webapp/evil', 'rejection logged');
  t.regex(rejected.reason, /id/);
  await s.renderer.waitForEvent((e) => e.event === 'rejected' && e.key === '/nodes/webapp/notjson', 'rejection logged');
  await sleep(1500);
  t.notRegex(readFileSync(s.ha.configPath, 'utf8'), /6\.6\.6\.6|evil/);
  t.deepEqual([...new Set(await tags(s.ha.url, 10))], ['w1']);
  t.regex(await metrics(s), /leasehold_renderer_rejected_records 2/);
});

test.serial('a structure that fails haproxy -c is refused; membership goes on; the live config is untouched', async (t) => {
  // A user template that is broken once a pool grows past 16 slots.
  const templatePath = join(tmpdir(), `leasehold-template-${process.pid}.hbs`);
  writeFileSync(templatePath, readFileSync(DEFAULT_TEMPLATE, 'utf8').replace('    balance roundrobin\n', '    balance roundrobin\n{{#if (lookup slots 16)}}    no-such-keyword\n{{/if}}'));
  t.teardown(() => rmSync(templatePath, { force: true }));
  const s = await stack(t, ['w1'], { TEMPLATE_PATH: templatePath });
  await waitForNodes(s, ['w1']);
  const before = readFileSync(s.ha.configPath, 'utf8');
  const proc = await s.ha.control.showProc();
  // 16 more nodes: the pool must grow, and the grown structure is refused.
  const extra: Record<string, number> = {};
  for (let i = 0; i < 16; i++) {
    extra[`x${i}`] = 31000 + i;
    await s.etcd.putLeased(`/nodes/webapp/x${i}`, record(`x${i}`, 31000 + i));
  }
  const refused = await s.renderer.waitForEvent((e) => e.event === 'refused', 'refusal reported');
  t.is(refused.stage, 'check');
  t.regex(refused.err, /no-such-keyword/);
  t.is((await s.ha.control.showProc()).reloads, proc.reloads, 'no reload was attempted');
  t.is((await get(`http://127.0.0.1:${s.healthPort}/health`)).status, 503, 'unhealthy: the store asks for what cannot be applied');
  t.false(readFileSync(s.ha.configPath, 'utf8').includes('no-such-keyword'), 'the refused config never reached the disk');
  // The 15 that fit are in rotation; w1 serves on.
  await waitFor(async () => Object.keys(await inHaproxy(s, 'webapp', extra)).length === 16, '16 nodes in rotation', 10000);
  t.deepEqual([...new Set(await tags(s.ha.url, 10))], ['w1']);
  t.regex(await metrics(s), /leasehold_renderer_refused_total\{stage="check"\} [1-9]/);
  t.is(readFileSync(s.ha.configPath, 'utf8'), before, 'the live file is what HAProxy runs');
});

test.serial('a record whose server line haproxy -c refuses is quarantined; everything else is applied', async (t) => {
  // A user template that puts each node's weight where 0 is refused (`rise 0`).
  const templatePath = join(tmpdir(), `leasehold-template-q-${process.pid}.hbs`);
  writeFileSync(templatePath, readFileSync(DEFAULT_TEMPLATE, 'utf8').replace('weight {{weight}}{{#if disabled}}', 'weight {{weight}} rise {{weight}}{{#if disabled}}'));
  t.teardown(() => rmSync(templatePath, { force: true }));
  const s = await stack(t, ['w1'], { TEMPLATE_PATH: templatePath });
  await waitForNodes(s, ['w1']);
  await s.etcd.putLeased('/nodes/webapp/poison', record('poison', 32000, { weight: 0 }));
  const q = await s.renderer.waitForEvent((e) => e.event === 'rejected' && e.key === '/nodes/webapp/poison' && /quarantined/.test(e.reason), 'poison quarantined', 20000);
  t.regex(q.reason, /haproxy -c/);
  s.apps.push(await startApp('w2', s.etcd.endpoint));
  await waitForNodes(s, ['w1', 'w2']);
  await waitFor(() => !/poison|32000/.test(readFileSync(s.ha.configPath, 'utf8')) && readFileSync(s.ha.configPath, 'utf8').includes('# webapp/w2'), 'the mirror carries w2, not the poison');
  await waitFor(async () => (await get(`http://127.0.0.1:${s.healthPort}/health`)).status === 200, 'healthy: everything else applied');
});

test.serial('etcd down: HAProxy keeps serving; etcd back: the renderer converges on the new truth', async (t) => {
  const s = await stack(t, ['w1', 'w2']);
  await waitForNodes(s, ['w1', 'w2']);
  await s.etcd.pause();
  await s.renderer.waitForEvent((e) => e.event === 'store' && e.state !== 'synced', 'etcd loss noticed');
  // While etcd is away, w2 goes for good without being able to revoke its lease.
  s.apps[1]!.registrar.signal('SIGKILL');
  const during: string[] = [];
  for (let i = 0; i < 10; i++) {
    during.push(...(await tags(s.ha.url, 5)));
    await sleep(300);
  }
  t.false(during.some((x) => x.startsWith('status:')), `every request served while etcd was down: ${during.join(',')}`);
  t.deepEqual(Object.keys(await inHaproxy(s)).sort(), ['w1', 'w2'], 'membership kept');

  await s.etcd.resume();
  await s.renderer.waitForEvent((e) => e.event === 'store' && e.state === 'synced' && e.reason !== 'start', 're-listed after reconnect', 15000);
  // w2's lease expires (TTL 2 s) and its key goes; w1 stays.
  await s.renderer.waitForEvent((e) => e.event === 'node' && e.change === 'left' && e.id === 'w2', 'w2 left after its lease expired', 15000);
  await waitForNodes(s, ['w1']);
  await stopApp(s.apps.pop()!);
});

test.serial('a burst of 100 puts within 1 s: no reload when the pool fits, and every node set', async (t) => {
  const s = await stack(t, ['w1'], { MIN_SLOTS: '128' });
  await waitForNodes(s, ['w1']);
  const extra: Record<string, number> = {};
  const started = Date.now();
  for (let i = 0; i < 100; i++) {
    extra[`b${i}`] = 30000 + i;
    await s.etcd.putLeased(`/nodes/webapp/b${i}`, record(`b${i}`, 30000 + i));
    await sleep(Math.max(0, started + i * 9 - Date.now()));
  }
  t.log(`100 puts in ${Date.now() - started} ms`); // the harness's own pace: a figure, not an assertion
  // Nothing listens on those ports: the servers are in rotation, and their checks fail.
  await waitFor(async () => Object.keys(await inHaproxy(s, 'webapp', extra)).length === 101, '101 servers in rotation', 15000);
  t.is(reloads(s.renderer).length, 1, 'only the first structure');
  t.regex(await metrics(s), /leasehold_runtime_commands_total\{result="failed"\} 0/);
});

test.serial('10,000 joins in a burst: the pool grows in a few reloads and every command lands', async (t) => {
  // 2 x maxconn + one descriptor per slot must fit the file-descriptor limit (20,000 on our CI).
  const s = await stack(t, [], { LOG_LEVEL: 'warn', HAPROXY_MAXCONN: '1000' });
  await waitFor(async () => (await get(`http://127.0.0.1:${s.healthPort}/health`)).status === 200, 'first structure', 15000);
  const N = 10000;
  const put = (i: number) => s.etcd.putLeased(`/nodes/webapp/n${i}`, record(`n${i}`, 20000 + (i % 10000), { address: `127.1.${i >> 8}.${i & 255}` }));
  for (let i = 0; i < N; i += 200) await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, k) => put(i + k)));
  const admin = new RuntimeChannel({ socket: s.ha.adminSocket, batchSize: 100, timeoutMs: 5000 });
  await waitFor(async () => {
    const [state] = await admin.run(['show servers state webapp']);
    return parseServersState(state!).filter((x) => (x.admin & 0x01) === 0).length === N;
  }, `${N} servers in rotation`, 90000, 500).catch((err) => {
    t.log(s.renderer.lines.slice(-30).join('\n'));
    throw err;
  });
  const m = await metrics(s);
  t.regex(m, /leasehold_runtime_commands_total\{result="failed"\} 0/);
  const grew = (await get(`http://127.0.0.1:${s.healthPort}/status`)).body;
  t.log(`reloads: ${JSON.stringify(grew.reloads)}, slots: ${JSON.stringify(grew.slots)}`);
  t.true(grew.reloads.pool >= 1 && grew.reloads.pool <= 8, JSON.stringify(grew.reloads));
  await waitFor(async () => (await get(`http://127.0.0.1:${s.healthPort}/health`)).status === 200, 'healthy (converged)', 30000);
});

test.serial('a server HAProxy found dead stays down across a structural reload (server state carried)', async (t) => {
  const s = await stack(t, ['w1']);
  await waitForNodes(s, ['w1']);
  // A black hole: it accepts connections and never answers, so checks fail only by timing out,
  // as with a crashed container. A reloaded worker that forgot would route to it for seconds.
  const hole = createServer((sock) => sock.on('error', () => undefined));
  const holePort = await new Promise<number>((r) => hole.listen(0, '127.0.0.1', () => r((hole.address() as { port: number }).port)));
  t.teardown(() => {
    hole.close();
  });
  await s.etcd.putLeased('/nodes/webapp/hole', record('hole', holePort));
  const holeRow = async () => (await s.ha.servers()).find((r) => r.addr === `127.0.0.1:${holePort}` && inRotation(r));
  await waitFor(async () => (await holeRow())?.status === 'DOWN', 'black hole marked DOWN', 20000);
  // A new service is a structural change: one reload.
  // A structural change: the pool grows (16 slots → 64), one reload.
  for (let i = 0; i < 16; i++) await s.etcd.putLeased(`/nodes/webapp/g${i}`, record(`g${i}`, 33000 + i));
  await waitFor(() => reloads(s.renderer).length === 2, 'reload for the grown pool');
  // The new worker's first check of the black hole cannot have ended yet: only the carried state says DOWN.
  t.is((await holeRow())?.status, 'DOWN');
});

test.serial('an operator drain (etcd key) drains the node through the runtime API; /status and /events show it', async (t) => {
  const s = await stack(t, ['w1', 'w2']);
  await waitForNodes(s, ['w1', 'w2']);
  const events: Record<string, unknown>[] = [];
  const stream = await new Promise<import('node:http').IncomingMessage>((resolve) => request(`http://127.0.0.1:${s.healthPort}/events`, resolve).end());
  let buf = '';
  stream.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i; (i = buf.indexOf('\n')) >= 0; buf = buf.slice(i + 1)) events.push(JSON.parse(buf.slice(0, i)));
  });
  t.teardown(() => stream.destroy());
  await s.etcd.client.put('/leasehold/drain/webapp/w1').value(JSON.stringify({ at: new Date().toISOString(), by: 'test' }));
  await waitFor(async () => (await inHaproxy(s)).w1 === 'DRAIN', 'w1 in DRAIN on the stats page');
  t.false((await tags(s.ha.url, 20)).includes('w1'), 'no new request to w1');
  const status = (await get(`http://127.0.0.1:${s.healthPort}/status`)).body;
  const w1 = status.backends.webapp.find((x: { node?: string }) => x.node === 'w1');
  t.like(w1, { state: 'drain', operator: { drained: true }, haproxy: { status: 'DRAIN', sessions: 0 } });
  await waitFor(() => events.some((e) => e.event === 'operator' && e.change === 'drained' && e.id === 'w1'), 'the drain on /events');
  await s.etcd.client.delete().key('/leasehold/drain/webapp/w1');
  await waitForNodes(s, ['w1', 'w2']);
  t.is(reloads(s.renderer).length, 1);
});

test.serial('a list of any size: pages at one revision; oversized values are not kept, one too large for any reply is skipped by key', async (t) => {
  // A 5 MiB value needs etcd to take requests that large; the rest is etcd as deployed.
  const etcd = await TestEtcd.start(['--max-request-bytes', String(6 * MiB)]);
  t.teardown(() => etcd.stop());
  const c = etcd.client;
  for (let i = 0; i < 3; i++) await c.put(`/nodes/webapp/big${i}`).value('x'.repeat(1.5 * MiB));
  await c.put('/nodes/webapp/huge').value('y'.repeat(5 * MiB));
  const small = new Map<string, string>();
  for (let i = 0; i < 40; i++) {
    const key = `/nodes/webapp/n${String(i).padStart(2, '0')}`;
    small.set(key, record(`n${i}`, 20000 + i));
    await c.put(key).value(small.get(key)!);
  }
  // A write lands after every page: none of them may show in the list.
  let pages = 0;
  const kv = { range: async (req: Parameters<Etcd3['kv']['range']>[0]) => {
    const res = await c.kv.range(req);
    await c.put(`/nodes/webapp/zz${pages++}`).value('late');
    return res;
  } };
  const store = new EtcdStore({ kv } as unknown as Etcd3, { pageKeys: 8, maxValueBytes: 4096 });
  const snap = await store.list('/nodes/');
  t.true(pages >= 6, `${pages} pages`);
  const got = new Map(snap.kvs.map((x) => [x.key, x]));
  t.deepEqual(snap.kvs.map((x) => x.key), await c.getAll().prefix('/nodes/').revision(snap.revision.toString()).keys(), 'exactly the prefix at the list\'s revision');
  t.is(snap.kvs.length, 44);
  for (let i = 0; i < 3; i++) t.like(got.get(`/nodes/webapp/big${i}`), { value: '', unread: `value is ${1.5 * MiB} bytes, over 4096: not kept` });
  t.like(got.get('/nodes/webapp/huge'), { value: '' });
  t.regex(got.get('/nodes/webapp/huge')!.unread!, /over the 4 MiB a reply may carry/);
  for (const [key, value] of small) t.is(got.get(key)?.value, value);
});

test.serial('a renderer started on three 1.5 MiB values (a 4.5 MiB list) syncs: it serves the records and reports the oversized keys', async (t) => {
  const s = await stack(t, ['w1'], {}, async (etcd) => {
    for (let i = 0; i < 3; i++) await etcd.putLeased(`/nodes/webapp/big${i}`, 'x'.repeat(BIG));
  });
  await waitForNodes(s, ['w1'], { timeoutMs: 30000 });
  for (let i = 0; i < 3; i++) {
    const e = await s.renderer.waitForEvent((e) => e.event === 'rejected' && e.key === `/nodes/webapp/big${i}`, `big${i} reported`);
    t.regex(e.reason, new RegExp(`value is ${BIG} bytes, over 4096`));
  }
  await waitFor(async () => (await health(s)) === 200, 'healthy');
  t.regex(await metrics(s), /leasehold_renderer_rejected_records 3\n/);
});

test.serial('a running renderer whose prefix grows past 4 MiB goes on listing and watching: a node that joins after is served', async (t) => {
  const s = await stack(t, ['w1'], { RESYNC_INTERVAL_MS: '1000' });
  await waitForNodes(s, ['w1']);
  for (let i = 0; i < 3; i++) await s.etcd.putLeased(`/nodes/webapp/big${i}`, 'x'.repeat(BIG));
  await s.renderer.waitForEvent((e) => e.event === 'rejected' && e.key === '/nodes/webapp/big2', 'the third big value seen');
  const periodic = () => s.renderer.events().filter((e) => e.event === 'store' && e.state === 'synced' && e.reason === 'periodic').length;
  const before = periodic();
  await waitFor(() => periodic() >= before + 2, 'two periodic re-lists of the 4.5 MiB prefix', 20000);
  s.apps.push(await startApp('w2', s.etcd.endpoint));
  await waitForNodes(s, ['w1', 'w2']);
  t.is(await health(s), 200);
});

test.serial('1,200 ordinary records (a 4.6 MB list) are listed in pages; past MAX_NODES_PER_SERVICE the newest are refused, logged and counted', async (t) => {
  const N = 1200;
  const CAP = 1000;
  // JSON takes whitespace: records of 3.8 KB, under the 4 KiB limit, with no unknown field.
  const pad = ' '.repeat(3500);
  const s = await stack(t, [], { MAX_NODES_PER_SERVICE: String(CAP), LOG_LEVEL: 'warn', HAPROXY_MAXCONN: '1000' }, async (etcd) => {
    // Batch after batch: the last 200 keys are the newest.
    for (let i = 0; i < N; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, k) => etcd.putLeased(`/nodes/webapp/n${i + k}`, record(`n${i + k}`, 20000 + i + k, { address: `127.1.${(i + k) >> 8}.${(i + k) & 255}` }) + pad)));
    }
  });
  const admin = new RuntimeChannel({ socket: s.ha.adminSocket, batchSize: 100, timeoutMs: 5000 });
  await waitFor(async () => {
    const [state] = await admin.run(['show servers state webapp']);
    return parseServersState(state!).filter((x) => (x.admin & 0x01) === 0).length === CAP;
  }, `${CAP} servers in rotation`, 60000, 500);
  const line = await s.renderer.waitForEvent((e) => e.event === 'rejected' && e.key === '/nodes/webapp/', 'one line for the service');
  t.regex(line.reason, /^200 node\(s\) over MAX_NODES_PER_SERVICE \(1000\) refused/);
  t.is(s.renderer.events().filter((e) => e.event === 'rejected').length, 1, 'one line, not one per key');
  const status = (await get(`http://127.0.0.1:${s.healthPort}/status`)).body;
  t.deepEqual(status.overCap, { webapp: 200 });
  const served = new Set(status.backends.webapp.filter((x: { node?: string }) => x.node).map((x: { node: string }) => x.node));
  t.deepEqual([...served].filter((id) => Number(String(id).slice(1)) >= CAP), [], 'the newest are the ones refused');
  t.is(served.size, CAP);
  t.regex(await metrics(s), /leasehold_renderer_nodes_over_cap\{service="webapp"\} 200\n/);
});

test.serial('etcd gone longer than STORE_UNSYNCED_UNHEALTHY_MS: /health 503 while HAProxy serves on; etcd back: 200, and the watch is live again', async (t) => {
  // No periodic re-list in this test: after etcd comes back, only the watch can bring w2.
  const s = await stack(t, ['w1'], { STORE_UNSYNCED_UNHEALTHY_MS: '3000', RESYNC_INTERVAL_MS: '600000' });
  await waitForNodes(s, ['w1']);
  await waitFor(async () => (await health(s)) === 200, 'healthy');
  await s.etcd.pause();
  await waitFor(async () => (await health(s)) === 503, '/health 503 once out of sync past 3 s', 20000);
  const unsynced = () => metrics(s).then((m) => Number(/^leasehold_renderer_store_unsynced_seconds (\S+)$/m.exec(m)?.[1]));
  t.true((await unsynced()) >= 3);
  t.deepEqual([...new Set(await tags(s.ha.url, 10))], ['w1'], 'HAProxy serves on');
  await s.etcd.resume();
  await waitFor(async () => (await health(s)) === 200, '/health 200 once listed and watching again', 30000);
  t.is(await unsynced(), 0);
  s.apps.push(await startApp('w2', s.etcd.endpoint));
  await waitForNodes(s, ['w1', 'w2']);
});
