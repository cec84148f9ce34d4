import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { DEFAULT_TEMPLATE } from '../../renderer/options.js';
import { TestEtcd } from '../helpers/etcd.js';
import { TestHaproxy } from '../helpers/haproxy.js';
import { get, tags } from '../helpers/http.js';
import { freePort } from '../helpers/ports.js';
import { type Proc, node } from '../helpers/process.js';
import { type App, startApp, stopApp } from '../helpers/stack.js';
import { sleep, waitFor } from '../helpers/wait.js';

interface Stack {
  etcd: TestEtcd;
  ha: TestHaproxy;
  renderer: Proc;
  healthPort: number;
  apps: App[];
}

async function stack(t: ExecutionContext, appTags: string[], env: Record<string, string> = {}): Promise<Stack> {
  const etcd = await TestEtcd.start();
  const ha = await TestHaproxy.start();
  const healthPort = await freePort();
  const renderer = node('renderer', 'renderer/main.js', {
    ETCD_ENDPOINTS: etcd.endpoint,
    ...ha.rendererEnv(),
    RENDERER_HEALTH_PORT: String(healthPort),
    ...env,
  });
  const apps = await Promise.all(appTags.map((tag) => startApp(tag, etcd.endpoint)));
  const s = { etcd, ha, renderer, healthPort, apps };
  t.teardown(async () => {
    await Promise.all(s.apps.map(stopApp));
    await renderer.stop();
    await ha.stop();
    await etcd.stop();
  });
  return s;
}

const applied = (r: Proc) => r.events().filter((e) => e.event === 'reload');

/** Waits until HAProxy's stats list exactly these servers in `backend`, all UP. */
async function waitForServers(ha: TestHaproxy, expected: string[], backend = 'webapp', timeoutMs = 10000): Promise<void> {
  const want = [...expected].sort().join(',');
  await waitFor(
    async () => {
      const rows = (await ha.servers()).filter((r) => r.backend === backend);
      return rows.every((r) => r.status === 'UP') && rows.map((r) => r.server).sort().join(',') === want;
    },
    `servers [${want}] UP in ${backend}`,
    timeoutMs,
  );
}

test.serial('routes to every registered webapp, and stops routing to one that leaves', async (t) => {
  const s = await stack(t, ['w1', 'w2', 'w3']);
  await waitForServers(s.ha, ['w1', 'w2', 'w3']);
  const seen = new Set(await tags(s.ha.url, 30));
  t.deepEqual([...seen].sort(), ['w1', 'w2', 'w3']);

  // A node joining a live config is served at once through the runtime API, then by the reload.
  s.apps.push(await startApp('w4', s.etcd.endpoint));
  const joined = await s.renderer.waitForEvent((e) => e.event === 'runtime' && e.change === 'joined' && e.id === 'w4', 'w4 added');
  t.true(joined.ok, JSON.stringify(joined));
  await waitFor(async () => (await tags(s.ha.url, 8)).includes('w4'), 'w4 served');
  await s.renderer.waitForEvent((e) => e.event === 'node' && e.change === 'joined' && e.id === 'w4', 'w4 in the config');
  await waitForServers(s.ha, ['w1', 'w2', 'w3', 'w4']);
  await stopApp(s.apps.pop()!);
  await waitForServers(s.ha, ['w1', 'w2', 'w3']);

  await s.apps[1]!.registrar.stop();
  // Out of rotation at once on the running worker, then removed by the reload.
  const drained = await s.renderer.waitForEvent((e) => e.event === 'runtime' && e.change === 'left' && e.id === 'w2', 'w2 drained');
  t.true(drained.ok, JSON.stringify(drained));
  await s.renderer.waitForEvent((e) => e.event === 'node' && e.change === 'left' && e.id === 'w2', 'w2 left');
  const after = await tags(s.ha.url, 30);
  t.false(after.includes('w2'), after.join(','));
  t.deepEqual([...new Set(after)].sort(), ['w1', 'w3']);
  await waitForServers(s.ha, ['w1', 'w3']);

  // Every reload the renderer reported was confirmed by the master CLI: counts agree.
  const proc = await s.ha.control.showProc();
  t.is(proc.failed, 0);
  t.is(proc.reloads, applied(s.renderer).length);
  const health = await get(`http://127.0.0.1:${s.healthPort}/health`);
  t.is(health.status, 200);
  t.like(health.body, { etcd: 'connected', nodes: 2 });
});

test.serial('a malformed record is skipped and reported by key; the good ones keep serving', async (t) => {
  const s = await stack(t, ['w1']);
  await waitForServers(s.ha, ['w1']);
  await s.etcd.client.put('/nodes/webapp/evil').value('{"id":"evil\\n    server x 6.6.6.6:80","service":"webapp"}');
  await s.etcd.client.put('/nodes/webapp/notjson').value('nope');
  const rejected = await s.renderer.waitForEvent((e) => e.event === 'rejected' && e.key === '/nodes/webapp/evil', 'rejection logged');
  t.regex(rejected.reason, /id/);
  await s.renderer.waitForEvent((e) => e.event === 'rejected' && e.key === '/nodes/webapp/notjson', 'rejection logged');
  const cfg = readFileSync(s.ha.configPath, 'utf8');
  t.notRegex(cfg, /6\.6\.6\.6|evil/);
  t.deepEqual([...new Set(await tags(s.ha.url, 10))], ['w1']);
  const metrics = await get(`http://127.0.0.1:${s.healthPort}/metrics`);
  t.regex(metrics.body, /leasehold_renderer_rejected_records 2/);
});

test.serial('a config that fails haproxy -c is refused; the last good config keeps serving', async (t) => {
  // A user template that puts each node's tag on its server line: a bad tag makes a bad config.
  const templatePath = join(tmpdir(), `leasehold-template-${process.pid}.hbs`);
  writeFileSync(templatePath, readFileSync(DEFAULT_TEMPLATE, 'utf8').replace('weight {{#if draining}}0{{else}}{{weight}}{{/if}}', 'weight {{weight}} {{tag}}'));
  t.teardown(() => rmSync(templatePath, { force: true }));
  // RUNTIME_UPDATES=0: the fast path would add the node without the template's bad line.
  const s = await stack(t, [], { TEMPLATE_PATH: templatePath, RUNTIME_UPDATES: '0' });
  s.apps.push(await startApp('w1', s.etcd.endpoint, { TAG: 'check' }));
  await waitForServers(s.ha, ['w1']);
  await s.renderer.waitForEvent((e) => e.event === 'reload' && e.servers === 1, 'w1 in the config');
  const before = readFileSync(s.ha.configPath, 'utf8');
  const reloads = (await s.ha.control.showProc()).reloads;

  s.apps.push(await startApp('w2', s.etcd.endpoint, { TAG: 'nonsense' }));
  const refused = await s.renderer.waitForEvent((e) => e.event === 'refused', 'refusal reported');
  t.is(refused.stage, 'check');
  t.regex(refused.err, /nonsense/);
  t.is(readFileSync(s.ha.configPath, 'utf8'), before, 'the live file is untouched');
  t.is((await s.ha.control.showProc()).reloads, reloads, 'no reload was attempted');
  t.deepEqual([...new Set(await tags(s.ha.url, 10))], ['w1'], 'the last good config serves');
  t.regex((await get(`http://127.0.0.1:${s.healthPort}/metrics`)).body, /leasehold_renderer_refused_total\{stage="check"\} 1/);

  // Once the bad node leaves, the renderer applies configs again.
  await stopApp(s.apps.pop()!);
  await s.etcd.client.put('/nodes/webapp/w3').value(JSON.stringify({ id: 'w3', service: 'webapp', address: '127.0.0.1', port: s.apps[0]!.port, tag: 'check', weight: 1, state: 'up', registeredAt: new Date().toISOString() }));
  await waitForServers(s.ha, ['w1', 'w3']);
});

test.serial('etcd down: HAProxy keeps serving; etcd back: the renderer converges on the new truth', async (t) => {
  const s = await stack(t, ['w1', 'w2']);
  await waitForServers(s.ha, ['w1', 'w2']);
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
  t.true(readFileSync(s.ha.configPath, 'utf8').includes('server w2 '), 'backends not emptied');

  await s.etcd.resume();
  await s.renderer.waitForEvent((e) => e.event === 'store' && e.state === 'synced' && e.reason !== 'start', 're-listed after reconnect', 15000);
  // w2's lease expires (TTL 2 s) and its key goes; w1 stays.
  await s.renderer.waitForEvent((e) => e.event === 'node' && e.change === 'left' && e.id === 'w2', 'w2 left after its lease expired', 15000);
  await waitForServers(s.ha, ['w1']);
  await stopApp(s.apps.pop()!);
});

test.serial('a burst of 100 puts gives a handful of reloads and the right final config', async (t) => {
  const s = await stack(t, ['w1']);
  await waitForServers(s.ha, ['w1']);
  const before = applied(s.renderer).length;
  const rec = (i: number) => JSON.stringify({ id: `b${i}`, service: 'webapp', address: '127.0.0.1', port: s.apps[0]!.port, tag: `b${i}`, weight: 1, state: 'up', registeredAt: new Date().toISOString() });
  const started = Date.now();
  for (let i = 0; i < 100; i++) {
    await s.etcd.client.put(`/nodes/webapp/b${i}`).value(rec(i));
    await sleep(Math.max(0, started + i * 9 - Date.now()));
  }
  t.true(Date.now() - started < 1500, `burst took ${Date.now() - started} ms`);
  const ids = ['w1', ...Array.from({ length: 100 }, (_, i) => `b${i}`)];
  await waitForServers(s.ha, ids, 'webapp', 15000);
  await sleep(1500); // let any trailing pass finish before counting
  const reloads = applied(s.renderer).length - before;
  t.log(`${reloads} reloads for 100 puts`);
  t.true(reloads >= 1 && reloads <= 5, `${reloads} reloads`);
  t.is((await s.ha.control.showProc()).reloads, applied(s.renderer).length);
});

test.serial('a server HAProxy found dead stays down across a reload (server state carried over)', async (t) => {
  const s = await stack(t, ['w1']);
  await waitForServers(s.ha, ['w1']);
  // A black hole: it accepts connections and never answers, so checks fail only by timing out,
  // as with a crashed container. A reloaded worker that forgot would route to it for seconds.
  const hole = createServer((sock) => sock.on('error', () => undefined));
  const holePort = await new Promise<number>((r) => hole.listen(0, '127.0.0.1', () => r((hole.address() as { port: number }).port)));
  t.teardown(() => {
    hole.close();
  });
  const rec = (id: string, port: number) => JSON.stringify({ id, service: 'webapp', address: '127.0.0.1', port, tag: id, weight: 1, state: 'up', registeredAt: new Date().toISOString() });
  await s.etcd.client.put('/nodes/webapp/hole').value(rec('hole', holePort));
  await waitFor(async () => (await s.ha.servers()).find((r) => r.server === 'hole')?.status === 'DOWN', 'black hole marked DOWN', 20000);
  const before = applied(s.renderer).length;
  await s.etcd.client.put('/nodes/webapp/w9').value(rec('w9', s.apps[0]!.port));
  await waitFor(() => applied(s.renderer).length > before, 'reload for w9');
  // The new worker's first check of the black hole cannot have ended yet: only the carried state says DOWN.
  const rows = await s.ha.servers();
  t.is(rows.find((r) => r.server === 'hole')?.status, 'DOWN', JSON.stringify(rows));
});
