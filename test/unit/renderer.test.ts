// The renderer's decisions on an in-memory store and a fake HAProxy that keeps a server table
// (as confd tests its template resource, and controllers test reconcile against a fake client):
// membership through runtime commands, structure through reloads, drift repaired, restarts adopted.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { DEFAULT_RULES } from '../../common/admission.js';
import { DEFAULT_TEMPLATE } from '../../renderer/options.js';
import { compileTemplate } from '../../renderer/render.js';
import { metricsText } from '../../renderer/metrics.js';
import { Renderer, type RendererConfig } from '../../renderer/renderer.js';
import type { KV, NodeStore, Snapshot, WatchEvent, WatchHandlers } from '../../common/store.js';
import { FakeHaproxy } from '../helpers/fake-haproxy.js';
import { FIXTURE_SETTINGS } from '../helpers/fixtures.js';
import { sleep, waitFor } from '../../harness/wait.js';

class MemoryStore implements NodeStore {
  kvs = new Map<string, string>();
  revision = 1n;
  clusterId = 'c1';
  lists = 0;
  down = false;
  watchers: { prefix: string; h: WatchHandlers }[] = [];
  async list(prefix: string): Promise<Snapshot> {
    if (this.down) throw new Error('store down');
    if (prefix === '/nodes/') this.lists++;
    return { revision: this.revision, clusterId: this.clusterId, kvs: [...this.kvs].filter(([key]) => key.startsWith(prefix)).map(([key, value]): KV => ({ key, value, lease: '7', modRevision: this.revs.get(key) })) };
  }
  async watch(prefix: string, _r: bigint, h: WatchHandlers) {
    const w = { prefix, h };
    this.watchers.push(w);
    return { cancel: async () => void (this.watchers = this.watchers.filter((x) => x !== w)) };
  }
  /** The watch on the node records. */
  nodeWatch(): WatchHandlers {
    return this.watchers.find((w) => w.prefix === '/nodes/')!.h;
  }
  raw(key: string, value: string | undefined): void {
    if (value === undefined) this.kvs.delete(key);
    else this.kvs.set(key, value);
    this.emit(value === undefined ? { type: 'delete', key } : { type: 'put', key, value, lease: '7' }, true);
  }
  /** Each key's mod revision, as etcd keeps it. */
  private revs = new Map<string, string>();
  private emit(e: WatchEvent, notify: boolean): void {
    this.revision++;
    const revision = String(this.revision);
    if (e.type === 'put') this.revs.set(e.key, revision);
    else this.revs.delete(e.key);
    const seen = e.type === 'put' ? { ...e, revision, modRevision: revision } : { ...e, revision };
    if (notify) for (const w of this.watchers) if (e.key.startsWith(w.prefix)) w.h.events([seen]);
  }
  put(id: string, o: { service?: string; address?: string; port?: number; weight?: number; state?: string; notify?: boolean } = {}): void {
    const service = o.service ?? 'webapp';
    const value = JSON.stringify({ id, service, address: o.address ?? `10.0.0.${(id.length * 7 + id.charCodeAt(0)) % 250}`, port: o.port ?? 3000, tag: id, weight: o.weight ?? 100, state: o.state ?? 'up', registeredAt: '2026-01-01T00:00:00Z' });
    const key = `/nodes/${service}/${id}`;
    this.kvs.set(key, value);
    this.emit({ type: 'put', key, value, lease: '7' }, o.notify ?? true);
  }
  del(id: string, service = 'webapp'): void {
    const key = `/nodes/${service}/${id}`;
    this.kvs.delete(key);
    this.emit({ type: 'delete', key }, true);
  }
}

const template = compileTemplate(readFileSync(DEFAULT_TEMPLATE, 'utf8'));

function setup(t: ExecutionContext, over: Partial<RendererConfig> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-unit-'));
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, 'bootstrap\n');
  const store = new MemoryStore();
  const haproxy = new FakeHaproxy(configPath);
  const config: RendererConfig = {
    ...FIXTURE_SETTINGS,
    stateFile: join(dir, 'state'),
    prefix: '/nodes/',
    operatorPrefix: '/leasehold/',
    configPath,
    coalesceMinMs: 5,
    coalesceMaxMs: 50,
    resyncIntervalMs: 60000,
    reconcileIntervalMs: 200,
    minSlots: 4,
    shrinkAfterMs: 60000,
    leaveMaxMs: 60000,
    mirrorDelayMs: 20,
    holdMs: 500,
    failStaticShare: 0.5,
    failStaticWindowMs: 10000,
    failStaticMaxMs: 60000,
    maxNodesPerService: 1000,
    storeUnsyncedUnhealthyMs: 30000,
    services: [],
    admission: { ...DEFAULT_RULES, services: undefined },
    ...over,
  };
  const renderers: Renderer[] = [];
  // The renderer's monotonic clock runs with real time; `skip` moves it on at once, so a test
  // ends a hold or fail static by saying so instead of racing real time against its own sleeps.
  let skipped = 0;
  const make = () => {
    const r = new Renderer(config, { store, haproxy, runtime: haproxy, template, monotonic: () => performance.now() + skipped });
    const events: string[] = [];
    r.on('store', (e) => events.push(`store:${e.state}`));
    r.on('refused', (e) => events.push(`refused:${e.stage}`));
    r.on('drift', (e) => events.push(`drift:${e.backend}/${e.server}:${e.fields.join(',')}`));
    r.on('reload', (e) => events.push(`reload:${e.cause}`));
    renderers.push(r);
    return { r, events };
  };
  t.teardown(async () => {
    for (const r of renderers) await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { store, haproxy, make, config, dir, configPath, disk: () => readFileSync(configPath, 'utf8'), skip: (ms: number) => void (skipped += ms) };
}

/** Waits until the fake worker has exactly these nodes (by address:port) in rotation. */
// 30 s, not 5: with 12 busy loops on 2 cores, the first serving after a refusal and its retry (quarantine, unwritable state file, etcd down at start) took over 5 s in this file's 36 concurrent tests.
const serving = (h: FakeHaproxy, want: string[]) =>
  waitFor(() => JSON.stringify(h.live().map((l) => l.split('=')[1]).sort()) === JSON.stringify([...want].sort()), `serving [${want.join(', ')}] (has ${h.live().join(', ')})`, 30000, 5);

test('first list: one reload for the structure; joins and leaves after it go through the runtime API', async (t) => {
  const { store, haproxy, make, disk } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  t.deepEqual(events.filter((e) => e.startsWith('reload')), ['reload:config']);
  t.regex(disk(), /server s1 10\.0\.0\.1:3000 weight 100 +# webapp\/a/);

  store.put('b', { address: '10.0.0.2' });
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  store.del('a');
  await serving(haproxy, ['10.0.0.2:3000']);
  t.is(haproxy.reloads, 1, 'membership changes never reload');
  t.true(haproxy.commands.includes('set server webapp/s2 addr 10.0.0.2 port 3000'));
  t.true(haproxy.commands.includes('set server webapp/s1 state maint'));
  // The config on disk follows, so a restart would come up the same.
  await waitFor(() => /server s2 10\.0\.0\.2:3000 weight 100 +# webapp\/b/.test(disk()) && /server s1 127\.0\.0\.1:1 weight 1 disabled/.test(disk()), 'disk mirrors the slots');
  t.true(r.healthy);
});

// The second change comes 20 ms after the first (not in the same tick), well inside the quiet
// period: only coalescing keeps the first from being applied alone. The reconcile interval ticks
// inside the window too (every 15 ms here, so always): it must wait for the burst, not apply half
// of it. (Both failed on a CI machine whose 200 ms tick fell between the two changes.)
/**
 * A burst under way: a lone change after COALESCE_MIN_MS of quiet is applied at once; the changes
 * behind it within that time wait for the burst to end. Here the quiet time is 1 s: the first list's
 * own flush is over, then a weight change starts a burst.
 */
async function burstStarted(store: MemoryStore, r: Renderer): Promise<void> {
  await sleep(1100);
  await r.idle();
  store.put('b', { address: '10.0.0.2', weight: 50 });
  await sleep(20);
}

test('a lone change after a quiet time is applied at once, not after COALESCE_MIN_MS', async (t) => {
  const { store, haproxy, make } = setup(t, { coalesceMinMs: 3000, coalesceMaxMs: 10000 });
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await sleep(3100); // the first list's flush and its quiet time are over
  const t0 = performance.now();
  store.put('b', { address: '10.0.0.2' });
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  t.true(performance.now() - t0 < 1500, `served after ${Math.round(performance.now() - t0)} ms; the quiet time is 3000`);
});

test('delete then re-put within one coalesce window: the node keeps its slot and stays in rotation', async (t) => {
  const { store, haproxy, make } = setup(t, { coalesceMinMs: 1000, coalesceMaxMs: 5000, reconcileIntervalMs: 15 });
  // Three nodes: one delete alone is no fail-static loss (it would be applied at once).
  for (const id of ['a', 'b', 'c']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}`, notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000']);
  await burstStarted(store, r);
  t.true(haproxy.commands.includes('set server webapp/s2 weight 50'), 'the burst\'s first change went at once');
  const before = haproxy.commands.length;
  store.del('a');
  await sleep(20);
  store.put('a', { address: '10.0.0.1' });
  await sleep(1200);
  await r.idle();
  t.deepEqual(haproxy.commands.slice(before), [], 'nothing to do: the slot never left rotation');
  t.true(haproxy.live().includes('webapp/s1=10.0.0.1:3000'));
});

test('put then delete within one coalesce window: the node never enters rotation', async (t) => {
  const { store, haproxy, make } = setup(t, { coalesceMinMs: 1000, coalesceMaxMs: 5000, reconcileIntervalMs: 15 });
  store.put('a', { address: '10.0.0.1', notify: false });
  store.put('b', { address: '10.0.0.2', notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  await burstStarted(store, r);
  store.put('ghost', { address: '10.0.0.9' });
  await sleep(20);
  store.del('ghost');
  await sleep(1200);
  await r.idle();
  t.false(haproxy.commands.some((c) => c.includes('10.0.0.9')));
  t.deepEqual(haproxy.live(), ['webapp/s1=10.0.0.1:3000', 'webapp/s2=10.0.0.2:3000']);
});

test('the work queue: a change reads back only what it touched, never the whole worker; queue depth, retries and the last full sync in /metrics', async (t) => {
  // No whole compare and no config mirror (which reads the servers' state for the file) in the test's time.
  const { store, haproxy, make } = setup(t, { reconcileIntervalMs: 60000, mirrorDelayMs: 600000 });
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await r.idle();
  const reads = haproxy.reads;
  store.put('b', { address: '10.0.0.2' });
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  store.put('b', { address: '10.0.0.2', weight: 7 });
  store.del('a');
  await serving(haproxy, ['10.0.0.2:3000']);
  await r.idle();
  t.is(haproxy.reads, reads, 'no show servers state: each change read back its own servers');
  t.true(r.status.converged);
  const m = metricsText(r.status);
  t.regex(m, /^leasehold_renderer_queue_depth 0$/m);
  t.regex(m, /^leasehold_renderer_queue_retries_total 0$/m);
  t.regex(m, /^leasehold_renderer_last_full_sync_age_seconds \d/m);
  t.regex(m, /^leasehold_runtime_commands_total\{result="refused"\} 0$/m);
});

test('a pass that reads the whole worker says so, with its time and the servers it read; a change read back alone does not', async (t) => {
  const { store, haproxy, make } = setup(t, { reconcileIntervalMs: 60000, mirrorDelayMs: 600000 });
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  const compared: { durationMs: number; servers: number; converged: boolean }[] = [];
  r.on('compared', (e) => compared.push(e));
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await r.idle();
  t.true(compared.length >= 1, 'the first pass reads the whole worker');
  t.true(compared.every((e) => e.durationMs >= 0));
  t.is(compared.at(-1)!.servers, haproxy.servers.size);
  t.true(compared.at(-1)!.converged);
  const before = compared.length;
  store.put('b', { address: '10.0.0.2' });
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  await r.idle();
  t.is(compared.length, before, 'a change reads back its own servers: no whole pass');
  // HAProxy away: passes that could not read say nothing; back, the whole read says so.
  haproxy.down = true;
  store.put('c', { address: '10.0.0.3' });
  await waitFor(() => r.status.haproxy === 'unreachable', 'HAProxy unreachable', 10000, 5);
  store.put('c', { address: '10.0.0.3', weight: 5 });
  await sleep(300);
  t.is(compared.length, before, 'no read, no compare');
  haproxy.down = false;
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000']);
  await waitFor(() => compared.length > before, 'the whole read after HAProxy came back', 10000, 5);
});

test('relist (the admission rules changed) admits every record anew; a periodic re-list parses only what changed', async (t) => {
  const peerHosts = new Set<string>();
  const { store, haproxy, make } = setup(t, { admission: { ...DEFAULT_RULES, services: undefined, peerHosts }, resyncIntervalMs: 1000 });
  for (const id of ['a', 'b']) store.put(id, { address: `10.0.0.${id === 'a' ? 1 : 2}`, notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  peerHosts.add('10.0.0.2'); // in place, as main.ts's look-up changes it
  const lists = store.lists;
  await waitFor(() => store.lists >= lists + 2, 'two periodic re-lists', 10000, 20);
  await r.idle();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  r.relist('admission addresses changed');
  await serving(haproxy, ['10.0.0.1:3000']);
  t.is(r.status.rejectedRecords, 1);
});

test('HAProxy unreachable: membership retries with a growing back-off, not at a fixed pace; back, it converges', async (t) => {
  const { store, haproxy, make } = setup(t, { reconcileIntervalMs: 60000 });
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await r.idle();
  haproxy.down = true;
  store.put('b', { address: '10.0.0.2' });
  await sleep(3000);
  // From 250 ms, doubling, ±10 %: about 250, 500, 1,000 and 2,000 ms: 3 or 4 in 3 s (a fixed 250 ms would be 12).
  const retries = r.status.queue.retries;
  t.true(retries >= 2 && retries <= 6, `${retries} retries in 3 s`);
  haproxy.down = false;
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  t.true(r.status.converged);
});

test('change applied: each change counted once from etcd to HAProxy, full and incremental apart; one HAProxy could not take waits, dated from its arrival', async (t) => {
  const { store, haproxy, make } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await r.idle();
  const applied = () => r.status.changeApplied;
  t.is(applied().full.count, 1, 'the first list');
  t.is(applied().incremental.count, 0);
  store.put('b', { address: '10.0.0.2' });
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  await waitFor(() => applied().incremental.count === 1, 'the put counted');
  t.true(applied().incremental.sum < 5);
  haproxy.down = true;
  store.put('c', { address: '10.0.0.3' });
  await sleep(700);
  t.is(applied().incremental.count, 1, 'not applied: not counted');
  haproxy.down = false;
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000']);
  await waitFor(() => applied().incremental.count === 2, 'counted once applied');
  t.true(applied().incremental.sum >= 0.7, `dated from the put: ${applied().incremental.sum} s in all`);
  t.regex(metricsText(r.status), /^leasehold_renderer_change_applied_seconds_count\{pass="incremental"\} 2$/m);
});

test('delete then re-put across passes: the slot leaves rotation and comes back (no MAINT left behind)', async (t) => {
  const { store, haproxy, make } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  store.put('a', { address: '10.0.0.1', state: 'leaving' });
  store.del('a');
  await serving(haproxy, []);
  store.put('a', { address: '10.0.0.1' });
  await serving(haproxy, ['10.0.0.1:3000']);
  t.deepEqual(haproxy.live(), ['webapp/s1=10.0.0.1:3000'], 'back in its own slot');
});

test('a burst of 100 changes converges with no reload beyond the pool growth', async (t) => {
  const { store, haproxy, make } = setup(t, { minSlots: 128 });
  const { r } = make();
  r.start();
  await waitFor(() => haproxy.reloads === 1, 'first structure');
  for (let i = 0; i < 100; i++) store.put(`n${i}`, { address: `10.1.0.${i}` });
  await serving(haproxy, Array.from({ length: 100 }, (_, i) => `10.1.0.${i}:3000`));
  for (let i = 0; i < 100; i++) store.put(`n${i}`, { address: `10.1.0.${i}`, weight: 7 });
  await waitFor(() => [...haproxy.servers.values()].filter((s) => s.weight === 7).length === 100, 'weights set');
  t.is(haproxy.reloads, 1);
});

test('a full pool grows: one reload, then every node in rotation', async (t) => {
  const { store, haproxy, make, disk } = setup(t);
  const { r, events } = make();
  r.start();
  await waitFor(() => haproxy.reloads === 1, 'first structure');
  for (let i = 0; i < 6; i++) store.put(`n${i}`, { address: `10.2.0.${i}` });
  await serving(haproxy, Array.from({ length: 6 }, (_, i) => `10.2.0.${i}:3000`));
  t.is(haproxy.reloads, 2);
  t.deepEqual(events.filter((e) => e.startsWith('reload')), ['reload:config', 'reload:pool']);
  t.is(disk().match(/^\s+server s\d+ /gm)?.length, 16, 'a small pool quadruples');
});

test('a refused structural change keeps membership moving on the servers the worker has', async (t) => {
  const { store, haproxy, make, disk } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  const before = disk();
  haproxy.failReload = true;
  store.put('api-1', { service: 'api', address: '10.3.0.1' });
  await waitFor(() => events.includes('refused:reload'), 'the new service refused');
  store.put('b', { address: '10.0.0.2' });
  store.del('a');
  await serving(haproxy, ['10.0.0.2:3000']);
  t.is(haproxy.reloads, 1);
  t.false(r.healthy, 'unhealthy while the store asks for what cannot be applied');
  t.false(disk().includes('backend api'), 'the refused config is not left on disk');
  t.is(disk(), before, 'the disk keeps what HAProxy runs (the mirror waits for the structure)');
  haproxy.failReload = false;
  await serving(haproxy, ['10.0.0.2:3000', '10.3.0.1:3000']);
  await waitFor(() => r.healthy, 'healthy again');
});

test('a record whose server line haproxy -c refuses is quarantined; everything else is applied', async (t) => {
  const { store, haproxy, make, disk } = setup(t);
  haproxy.refuse = /10\.6\.6\.6/;
  for (const [id, address] of [['a', '10.0.0.1'], ['poison', '10.6.6.6'], ['b', '10.0.0.2']]) store.put(id!, { address, notify: false });
  const rejected: string[] = [];
  const { r, events } = make();
  r.on('rejected', (e) => rejected.push(`${e.key}: ${e.reason}`));
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  t.true(events.includes('refused:check'));
  t.true(rejected.some((x) => x.startsWith('/nodes/webapp/poison: quarantined')), rejected.join('\n'));
  t.is(r.status.quarantined, 1);
  t.false(disk().includes('10.6.6.6'));
  await waitFor(() => r.healthy, 'healthy: everything else applied');
  // Changed, it is judged again.
  store.put('poison', { address: '10.0.0.3' });
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000']);
  t.is(r.status.quarantined, 0);
});

test('a quarantined record with an operator drain stays quarantined: haproxy -c is not run again and again', async (t) => {
  const { store, haproxy, make } = setup(t);
  haproxy.refuse = /10\.6\.6\.6/;
  for (const [id, address] of [['a', '10.0.0.1'], ['poison', '10.6.6.6']]) store.put(id!, { address, notify: false });
  store.raw('/leasehold/drain/webapp/poison', JSON.stringify({ at: '2026-11-23T00:00:00Z', by: 'test' }));
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await waitFor(() => r.status.quarantined === 1 && r.healthy, 'quarantined, the rest applied');
  const checks = haproxy.checks;
  await sleep(1500); // several reconciles and a mirror
  t.is(r.status.quarantined, 1);
  t.true(haproxy.checks - checks <= 2, `${haproxy.checks - checks} more haproxy -c runs in 1.5 s`);
});

test('etcd emptied (another cluster id): the previous nodes are held while registrars come back', async (t) => {
  // A hold of 60 s ended by `skip`: with 1.5 s, a stall of 1 s on a loaded machine ended it before the check below.
  const { store, haproxy, make, skip } = setup(t, { holdMs: 60000, failStaticMaxMs: 1500 });
  for (const [id, address] of [['a', '10.0.0.1'], ['b', '10.0.0.2']]) store.put(id!, { address, notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  store.kvs.clear();
  store.clusterId = 'c2';
  store.revision = 1n;
  store.nodeWatch().broken(new Error('etcd restarted'));
  await waitFor(() => events.includes('store:held'), 'held');
  await sleep(500);
  t.deepEqual(haproxy.live().length, 2, 'still serving both');
  t.true(r.healthy);
  store.put('a', { address: '10.0.0.1' }); // a came back; b never does
  skip(60000); // the hold ends
  await serving(haproxy, ['10.0.0.1:3000']);
  t.true(r.status.holds >= 1);
});

test('most nodes gone in one list (same etcd) is held too; a node leaving on its own is not', async (t) => {
  const { store, haproxy, make } = setup(t, { holdMs: 60000 });
  for (const id of ['a', 'b', 'c']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}`, notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000']);
  store.del('c');
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  t.false(events.includes('store:held'), 'a watched delete is applied at once');
  store.kvs.clear();
  store.nodeWatch().broken(new Error('stream reset'));
  await waitFor(() => events.includes('store:held'), 'held');
  await sleep(300);
  t.is(haproxy.live().length, 2);
});

const ABCD = ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000', '10.0.0.4:3000'];

/**
 * Serves a, b, c, d; runs `before` (while the watch is live); then a re-list (watch broken) of
 * what `change` made of etcd, with d missing: what etcd says after a restart.
 */
async function relistWithMostNodes(t: ExecutionContext, change: (store: MemoryStore) => void, before?: (store: MemoryStore, haproxy: FakeHaproxy) => Promise<void>) {
  // A hold of 60 s ended by `skip`: with 1.5 s, a stall of 1 s on a loaded machine ended it before the check below.
  const { store, haproxy, make, skip } = setup(t, { holdMs: 60000 });
  for (const id of ['a', 'b', 'c', 'd']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}`, notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ABCD);
  await before?.(store, haproxy);
  store.kvs.delete('/nodes/webapp/d'); // three of four: "most nodes gone" does not fire
  change(store);
  store.nodeWatch().broken(new Error('etcd restarted'));
  await waitFor(() => events.includes('store:held'), 'held');
  await sleep(400);
  t.deepEqual(haproxy.live().length, 4, 'd keeps serving while registrars re-register');
  skip(60000);
  await serving(haproxy, ABCD.slice(0, 3)); // the hold ends: d never came back
  t.is(r.status.holds, 1);
}

test('another etcd (its cluster id changed) with most of the nodes: the missing ones are held too', (t) =>
  relistWithMostNodes(t, (store) => {
    store.clusterId = 'c2';
    store.revision += 100n; // only the cluster id tells
  }));

test("etcd's revision went backwards (a wipe or a restored snapshot keeps the cluster id) with most of the nodes: the missing ones are held", (t) =>
  relistWithMostNodes(t, (store) => {
    store.revision = 2n;
  }));

test("etcd wiped long after the last list: its revision is below the newest one watched (not the list's), so the missing nodes are held", (t) => {
  let listed = 0n;
  return relistWithMostNodes(
    t,
    // The wipe: a fresh etcd, the same cluster id, and a revision past the last list's but below the newest watched.
    (store) => void (store.revision = listed + 3n),
    async (store, haproxy) => {
      listed = store.revision;
      for (let i = 0; i < 10; i++) store.put('a', { address: '10.0.0.1', weight: 100 + (i % 2) }); // watched, not listed
      await serving(haproxy, ABCD);
    },
  );
});

test('a renderer restarted on an emptied etcd adopts what HAProxy serves and holds it while registrars come back', async (t) => {
  // A hold of 60 s ended by `skip`: with 1.5 s, a stall of 1 s on a loaded machine ended it before the check below.
  const { store, haproxy, make, skip } = setup(t, { holdMs: 60000 });
  for (const id of ['a', 'b', 'c']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}`, notify: false });
  const first = make();
  first.r.start();
  const all = ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000'];
  await serving(haproxy, all);
  await first.r.stop();
  // A fresh renderer has no list to compare with: only what the worker runs says "emptied".
  store.kvs.clear();
  store.clusterId = 'c2';
  const second = make();
  second.r.start();
  await waitFor(() => second.events.includes('store:held'), 'held at adoption');
  await sleep(400);
  t.is(haproxy.live().length, 3, 'nothing pulled at once');
  store.put('a', { address: '10.0.0.1' });
  skip(60000);
  await serving(haproxy, ['10.0.0.1:3000']); // the hold ends; a is back on its own record
  t.is(haproxy.reloads, 1, 'no reload');
});

test('a renderer restarted on a mostly emptied etcd adopts a node still registered as itself: it keeps its slot through the hold and after', async (t) => {
  const { store, haproxy, make, skip } = setup(t, { holdMs: 60000 });
  for (const id of ['a', 'b', 'c']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}`, notify: false });
  const first = make();
  first.r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000']);
  await first.r.stop();
  const slotOfA = haproxy.live().find((l) => l.endsWith('=10.0.0.1:3000'))!;
  // b and c left while no renderer ran; a is still registered.
  store.kvs.delete('/nodes/webapp/b');
  store.kvs.delete('/nodes/webapp/c');
  const second = make();
  second.r.start();
  await waitFor(() => second.events.includes('store:held'), 'held at adoption');
  await sleep(300);
  t.true(haproxy.live().includes(slotOfA), 'a serves from its slot during the hold');
  skip(60000);
  await serving(haproxy, ['10.0.0.1:3000']);
  t.deepEqual(haproxy.live(), [slotOfA], 'and after it: never another slot, so never a slot waiting for its first check');
  t.false(haproxy.commands.includes(`set server ${slotOfA.split('=')[0]} state maint`), 'its slot never went to maintenance');
});

test('a template or setting fault that haproxy -c refuses in every config quarantines nothing: membership goes on', async (t) => {
  const { store, haproxy, make } = setup(t);
  for (const id of ['a', 'b']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}`, notify: false });
  const rejected: string[] = [];
  const { r, events } = make();
  r.on('rejected', (e) => rejected.push(`${e.key}: ${e.reason}`));
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  haproxy.refuse = /^global/m; // a keyword a newer HAProxy rejects, say: no record is at fault
  for (const id of ['c', 'd', 'e']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}` }); // e needs a bigger pool
  await waitFor(() => events.includes('refused:check'), 'the bigger pool refused');
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000', '10.0.0.4:3000']);
  await sleep(300);
  t.is(r.status.quarantined, 0);
  t.deepEqual(rejected, []);
  t.is(haproxy.live().length, 4, 'every node the pool holds still serves');
  t.false(r.healthy, 'e waits for a config HAProxy takes');
  haproxy.refuse = undefined; // the fault fixed
  store.put('f', { address: '10.0.0.6' });
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000', '10.0.0.4:3000', '10.0.0.5:3000', '10.0.0.6:3000']);
});

test('a record refused only in company (each alone passes haproxy -c) is not quarantined: the refusal stands', async (t) => {
  const { store, haproxy, make } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const rejected: string[] = [];
  const { r, events } = make();
  r.on('rejected', (e) => rejected.push(`${e.key}: ${e.reason}`));
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  haproxy.refuse = /10\.0\.0\.7[^]*10\.0\.0\.8|10\.0\.0\.8[^]*10\.0\.0\.7/; // both in one config
  store.put('x', { address: '10.0.0.7' });
  store.put('y', { address: '10.0.0.8' });
  await waitFor(() => events.includes('refused:check'), 'the config with both refused');
  await sleep(300);
  await r.idle();
  t.is(r.status.quarantined, 0);
  t.deepEqual(rejected, []);
  t.deepEqual(haproxy.live().map((l) => l.split('=')[1]).sort(), ['10.0.0.1:3000', '10.0.0.7:3000', '10.0.0.8:3000']);
});

test('/health is unhealthy while HAProxy refuses a node\'s address, healthy again once that node goes', async (t) => {
  const { store, haproxy, make } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await waitFor(() => r.healthy, 'healthy');
  haproxy.refuseAddress = /^10\.6\.6\.6$/;
  store.put('odd', { address: '10.6.6.6' });
  await waitFor(() => !r.healthy, 'unhealthy: the store asks for what HAProxy refuses');
  t.regex(r.status.lastError ?? '', /still differ/);
  t.deepEqual(haproxy.live(), ['webapp/s1=10.0.0.1:3000'], 'the others serve on');
  store.del('odd');
  await waitFor(() => r.healthy, 'healthy again');
});

test('a failed rename of the live config (EBUSY on a bind mount, here a directory in its place) is a refusal, retried: no crash', async (t) => {
  const { store, haproxy, make, configPath } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  rmSync(configPath);
  mkdirSync(configPath);
  writeFileSync(join(configPath, 'keep'), ''); // a rename over a directory that is not empty fails
  for (const id of ['b', 'c', 'd', 'e']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}` }); // e needs a bigger pool
  await waitFor(() => events.includes('refused:write'), 'the rename refused');
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000', '10.0.0.4:3000']);
  t.is(haproxy.reloads, 1);
  rmSync(configPath, { recursive: true });
  writeFileSync(configPath, 'put back\n');
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000', '10.0.0.4:3000', '10.0.0.5:3000']);
});

test('a server changed by hand is put back and counted as drift', async (t) => {
  const { store, haproxy, make } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await haproxy.run(['set server webapp/s1 state maint', 'set server webapp/s2 state ready', 'set server webapp/s3 weight 9']);
  await serving(haproxy, ['10.0.0.1:3000']);
  await waitFor(() => r.status.driftRepaired >= 2, 'drift counted');
  t.true(events.includes('drift:webapp/s1:admin'));
  t.true(events.includes('drift:webapp/s2:admin'));
  t.is(haproxy.reloads, 1);
});

test('a restarted renderer adopts the running assignment: no reload, no command', async (t) => {
  const { store, haproxy, make } = setup(t);
  for (const id of ['a', 'b', 'c']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}`, notify: false });
  const first = make();
  first.r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000', '10.0.0.3:3000']);
  await first.r.stop();
  // Nodes registered in another order now: adoption goes by address, not by order.
  store.kvs = new Map([...store.kvs].reverse());
  const commands = haproxy.commands.length;
  const second = make();
  second.r.start();
  await waitFor(() => second.r.status.lastReconcileAt !== undefined, 'first reconcile');
  t.is(haproxy.reloads, 1);
  t.deepEqual(haproxy.commands.slice(commands), []);
  t.true(second.r.healthy);
});

test('HAProxy restarted from the config on disk comes up with the same membership', async (t) => {
  const { store, haproxy, make, disk } = setup(t);
  for (const id of ['a', 'b']) store.put(id, { address: `10.0.0.${id.charCodeAt(0) - 96}`, notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  store.put('c', { address: '10.0.0.3' });
  store.del('a');
  await serving(haproxy, ['10.0.0.2:3000', '10.0.0.3:3000']);
  await waitFor(() => disk().includes('10.0.0.3:3000') && !disk().includes('10.0.0.1:3000'), 'mirror written');
  const live = haproxy.live();
  haproxy.load(disk());
  t.deepEqual(haproxy.live(), live);
  t.is(haproxy.reloads, 1);
});

test('etcd unreachable at start: retries, and never touches HAProxy until it lists', async (t) => {
  const { store, haproxy, make, disk } = setup(t);
  store.down = true;
  const { r, events } = make();
  r.start();
  await waitFor(() => events.includes('store:unreachable'), 'unreachable reported');
  await sleep(300);
  t.is(disk(), 'bootstrap\n');
  t.is(haproxy.reloads, 0);
  store.put('a', { address: '10.0.0.1', notify: false });
  store.down = false;
  await serving(haproxy, ['10.0.0.1:3000']);
});

test('the store out of sync longer than storeUnsyncedUnhealthyMs: unhealthy while HAProxy serves on; in sync again: healthy', async (t) => {
  const { store, haproxy, make } = setup(t, { storeUnsyncedUnhealthyMs: 1500 });
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  await waitFor(() => r.healthy, 'healthy');
  store.down = true;
  store.nodeWatch().broken(new Error('etcd gone'));
  t.true(r.healthy, 'a gap shorter than the bound is not unhealthy');
  await waitFor(() => !r.healthy, 'unhealthy past the bound', 10000);
  t.true(r.status.storeUnsyncedSeconds >= 1.5, String(r.status.storeUnsyncedSeconds));
  t.is(haproxy.live().length, 1, "HAProxy serves on");
  t.true(r.live, "live: the container check would not restart a serving LB for an etcd away");
  store.down = false;
  await waitFor(() => r.healthy, 'healthy again', 10000);
  t.is(r.status.storeUnsyncedSeconds, 0);
});

test('a broken watch re-lists everything, catching what it missed', async (t) => {
  const { store, haproxy, make } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  store.put('missed', { address: '10.0.0.5', notify: false });
  const lists = store.lists;
  store.nodeWatch().broken(new Error('stream reset'));
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.5:3000']);
  t.true(store.lists > lists);
  t.true(events.includes('store:broken'));
});

test('a failed reload puts the running config back on disk and retries', async (t) => {
  const { store, haproxy, make, disk } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  const running = disk();
  haproxy.failReload = true;
  store.put('api-1', { service: 'api', address: '10.3.0.1' });
  await waitFor(() => events.includes('refused:reload'), 'refusal reported');
  await r.idle();
  t.is(disk(), running, 'the file on disk is what HAProxy runs');
  haproxy.failReload = false;
  await serving(haproxy, ['10.0.0.1:3000', '10.3.0.1:3000']);
});

test('a state file that cannot be written is a refusal with a retry, not a crash', async (t) => {
  // Its folder does not exist yet: every write fails, as with EACCES or ENOSPC.
  const later = join(tmpdir(), `leasehold-unit-later-${process.pid}-${Date.now()}`);
  t.teardown(() => rmSync(later, { recursive: true, force: true }));
  const { store, haproxy, make } = setup(t, { stateFile: join(later, 'state') });
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r, events } = make();
  r.start();
  await waitFor(() => events.includes('refused:write'), 'write refused');
  t.is(haproxy.reloads, 0);
  mkdirSync(later);
  await serving(haproxy, ['10.0.0.1:3000']);
});

test('HAProxy gone: unhealthy and retried; back: reconciled', async (t) => {
  const { store, haproxy, make } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r, events } = make();
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  haproxy.down = true;
  store.put('b', { address: '10.0.0.2' });
  await waitFor(() => events.includes('refused:runtime'), 'runtime refused');
  t.false(r.healthy);
  haproxy.down = false;
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  await waitFor(() => r.healthy, 'healthy again');
});

test('an operator drain puts the node in drain (no reload) until undrained, and outlives a re-registration', async (t) => {
  const { store, haproxy, make } = setup(t);
  for (const [id, address] of [['a', '10.0.0.1'], ['b', '10.0.0.2']]) store.put(id!, { address, notify: false });
  const { r } = make();
  const ops: string[] = [];
  r.on('operator', (e) => ops.push(`${e.change} ${e.service}/${e.id}${e.weight !== undefined ? ` ${e.weight}` : ''}`));
  r.start();
  await serving(haproxy, ['10.0.0.1:3000', '10.0.0.2:3000']);
  store.raw('/leasehold/drain/webapp/a', JSON.stringify({ at: '2026-11-23T00:00:00Z', by: 'test' }));
  await waitFor(() => haproxy.live().includes('webapp/s1=10.0.0.1:3000 drain'), 'a drained');
  store.del('a');
  store.put('a', { address: '10.0.0.1' }); // it registers again: still drained
  await sleep(300);
  t.true(haproxy.live().includes('webapp/s1=10.0.0.1:3000 drain'));
  store.raw('/leasehold/weight/webapp/b', JSON.stringify({ weight: 5 }));
  await waitFor(() => haproxy.servers.get('webapp/s2')?.weight === 5, 'b weighted 5');
  store.raw('/leasehold/drain/webapp/a', undefined);
  store.raw('/leasehold/weight/webapp/b', undefined);
  await waitFor(() => haproxy.live().includes('webapp/s1=10.0.0.1:3000') && haproxy.servers.get('webapp/s2')?.weight === 100, 'undrained, weight back');
  t.is(haproxy.reloads, 1);
  t.deepEqual(ops, ['drained webapp/a', 'weight webapp/b 5', 'undrained webapp/a', 'weight-reset webapp/b']);
});

test('a bad operator value is reported and ignored', async (t) => {
  const { store, haproxy, make } = setup(t);
  store.put('a', { address: '10.0.0.1', notify: false });
  const { r } = make();
  const rejected: string[] = [];
  r.on('rejected', (e) => rejected.push(e.key));
  r.start();
  await serving(haproxy, ['10.0.0.1:3000']);
  store.raw('/leasehold/weight/webapp/a', JSON.stringify({ weight: 999 }));
  await waitFor(() => rejected.includes('/leasehold/weight/webapp/a'), 'reported');
  t.is(haproxy.servers.get('webapp/s1')?.weight, 100);
});

/** Starts a renderer serving `ids` (webapp, 10.0.0.<n>), and counts its fail-static events. */
async function failStaticSetup(t: ExecutionContext, n: number, over: Partial<RendererConfig> = {}) {
  const { store, haproxy, make } = setup(t, { minSlots: 16, ...over });
  const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
  ids.forEach((id, i) => store.put(id, { address: `10.0.0.${i + 1}`, notify: false }));
  const { r } = make();
  const fs: string[] = [];
  r.on('failStatic', (e) => fs.push(`${e.change}:${e.ids.join(',')}`));
  r.start();
  await serving(haproxy, ids.map((_, i) => `10.0.0.${i + 1}:3000`));
  return { store, haproxy, r, fs, addr: (i: number) => `10.0.0.${i}:3000` };
}

test('fail static: every node of a service expiring at once is held: HAProxy keeps them (its checks decide), reported', async (t) => {
  const { store, haproxy, r, fs, addr } = await failStaticSetup(t, 3);
  for (const id of ['n1', 'n2', 'n3']) store.del(id);
  await waitFor(() => fs.length > 0, 'a fail-static event');
  await sleep(300);
  t.deepEqual(haproxy.live().map((l) => l.split('=')[1]).sort(), [addr(1), addr(2), addr(3)], 'none removed');
  t.deepEqual(fs, ['held:n1,n2,n3']);
  t.is(r.status.failStaticHeld, 3);
});

test('fail static: two of three expiring together: the one over half is held; one expiry alone goes at once', async (t) => {
  const { store, haproxy, fs, addr } = await failStaticSetup(t, 3);
  store.del('n1');
  await serving(haproxy, [addr(2), addr(3)]);
  t.deepEqual(fs, [], 'one of three: no hold');
  store.del('n2');
  await waitFor(() => fs.length > 0, 'a fail-static event');
  t.deepEqual(fs, ['held:n2'], 'two of three within the window: the second is held');
  await sleep(300);
  t.deepEqual(haproxy.live().map((l) => l.split('=')[1]).sort(), [addr(2), addr(3)]);
});

test('fail static: a graceful leave (state leaving, then the delete) is applied at once however many leave together', async (t) => {
  const { store, haproxy, fs, addr } = await failStaticSetup(t, 10);
  for (let i = 2; i <= 10; i++) {
    store.put(`n${i}`, { address: `10.0.0.${i}`, state: 'leaving' });
    store.del(`n${i}`);
  }
  await serving(haproxy, [addr(1)]);
  await sleep(300);
  t.deepEqual(fs, [], 'nothing held');
  t.deepEqual(haproxy.live().map((l) => l.split('=')[1]), [addr(1)]);
});

test('fail static: a held node that registers again is served as before; one that never does goes after FAIL_STATIC_MAX_MS', async (t) => {
  const { store, haproxy, fs, addr } = await failStaticSetup(t, 2, { failStaticMaxMs: 1500 });
  store.del('n1');
  store.del('n2');
  await waitFor(() => fs.includes('held:n1,n2') || fs.includes('held:n2'), 'held');
  store.put('n1', { address: '10.0.0.1' });
  await waitFor(() => fs.some((e) => e.startsWith('returned:')), 'n1 returned');
  await serving(haproxy, [addr(1)]);
  t.true(fs.some((e) => e === 'released:n2'), fs.join(' '));
});

test('fail static: six of ten vanishing at once are all held (more than half), whatever their order', async (t) => {
  const { store, haproxy, fs } = await failStaticSetup(t, 10);
  for (let i = 1; i <= 6; i++) store.del(`n${i}`);
  await waitFor(() => fs.length > 0, 'a fail-static event');
  await sleep(300);
  t.deepEqual(fs, ['held:n1,n2,n3,n4,n5,n6']);
  t.is(haproxy.live().length, 10);
});

test('fail static: FAIL_STATIC_MAX_MS=0 turns it off: every node of a service expiring goes at once', async (t) => {
  const { store, haproxy, fs } = await failStaticSetup(t, 3, { failStaticMaxMs: 0 });
  for (const id of ['n1', 'n2', 'n3']) store.del(id);
  await serving(haproxy, []);
  t.deepEqual(fs, []);
});
