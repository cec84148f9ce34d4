// The pipeline's decisions on an in-memory store and a scripted HAProxy (as confd tests its
// template resource): re-list on a broken watch, periodic resync, and what a failed reload leaves.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ReloadError } from '../../common/errors.js';
import type { ReloadResult } from '../../renderer/haproxy.js';
import { compileTemplate } from '../../renderer/render.js';
import { Renderer } from '../../renderer/renderer.js';
import type { KV, NodeStore, Snapshot, WatchHandlers } from '../../renderer/store.js';
import { FIXTURE_SETTINGS } from '../helpers/fixtures.js';
import { waitFor } from '../helpers/wait.js';

class MemoryStore implements NodeStore {
  kvs = new Map<string, string>();
  revision = 1n;
  lists = 0;
  down = false;
  watchers: WatchHandlers[] = [];
  async list(): Promise<Snapshot> {
    if (this.down) throw new Error('store down');
    this.lists++;
    return { revision: this.revision, kvs: [...this.kvs].map(([key, value]): KV => ({ key, value })) };
  }
  async watch(_p: string, _r: bigint, h: WatchHandlers) {
    this.watchers.push(h);
    return { cancel: async () => void (this.watchers = this.watchers.filter((w) => w !== h)) };
  }
  put(id: string, notify = true): void {
    const value = JSON.stringify({ id, service: 'webapp', address: '10.0.0.1', port: 3000, tag: id, weight: 1, state: 'up', registeredAt: '2026-01-01T00:00:00Z' });
    const key = `/nodes/webapp/${id}`;
    this.kvs.set(key, value);
    this.revision++;
    if (notify) for (const w of this.watchers) w.events([{ type: 'put', key, value }]);
  }
}

class ScriptedHaproxy {
  reloads = 0;
  failReload = false;
  async check(): Promise<void> {}
  async reload(): Promise<ReloadResult> {
    if (this.failReload) throw new ReloadError('master CLI unreachable');
    return { reloads: ++this.reloads, workerPid: 1000 + this.reloads, durationMs: 1 };
  }
  async command(): Promise<string> {
    return '';
  }
}

function setup(t: ExecutionContext, resyncIntervalMs = 60000) {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-unit-'));
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, 'bootstrap\n');
  const store = new MemoryStore();
  const haproxy = new ScriptedHaproxy();
  const template = compileTemplate('{{#each services}}{{#each servers}}{{id}}\n{{/each}}{{/each}}');
  const r = new Renderer(
    { ...FIXTURE_SETTINGS, stateFile: join(dir, 'state'), prefix: '/nodes/', configPath, coalesceMinMs: 5, coalesceMaxMs: 50, resyncIntervalMs, runtimeUpdates: false },
    { store, haproxy, template },
  );
  t.teardown(async () => {
    await r.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const events: string[] = [];
  r.on('store', (e) => events.push(`store:${e.state}`));
  r.on('refused', (e) => events.push(`refused:${e.stage}`));
  return { store, haproxy, r, configPath, events, live: () => readFileSync(configPath, 'utf8') };
}

test('lists, renders, reloads; a watched put renders again; unchanged bytes do not reload', async (t) => {
  const { store, haproxy, r, live } = setup(t);
  store.put('a', false);
  r.start();
  await waitFor(() => live() === 'a\n', 'first config');
  store.put('b');
  await waitFor(() => live() === 'a\nb\n', 'second config');
  await r.idle();
  const reloads = haproxy.reloads;
  store.put('b'); // same record again: same bytes
  await new Promise((res) => setTimeout(res, 100));
  await r.idle();
  t.is(haproxy.reloads, reloads);
});

test('a broken watch re-lists everything, catching what it missed', async (t) => {
  const { store, r, live, events } = setup(t);
  store.put('a', false);
  r.start();
  await waitFor(() => live() === 'a\n', 'first config');
  store.put('missed', false); // a change the broken watch never delivered
  const lists = store.lists;
  store.watchers[0]!.broken(new Error('stream reset'));
  await waitFor(() => live() === 'a\nmissed\n', 're-listed config');
  t.true(store.lists > lists);
  t.true(events.includes('store:broken'));
});

test('the periodic resync catches a change no watch reported', async (t) => {
  const { store, r, live } = setup(t, 1000);
  r.start();
  await waitFor(() => store.lists === 1, 'first list');
  store.put('silent', false);
  await waitFor(() => live() === 'silent\n', 'resync picked it up', 5000);
  t.true(store.lists >= 2, `${store.lists} lists`);
});

test('etcd unreachable at start: retries, and never touches the live config until it lists', async (t) => {
  const { store, r, live, events } = setup(t);
  store.down = true;
  r.start();
  await waitFor(() => events.includes('store:unreachable'), 'unreachable reported');
  t.is(live(), 'bootstrap\n');
  store.put('a', false);
  store.down = false;
  await waitFor(() => live() === 'a\n', 'config once etcd answers', 10000);
});

test('a failed reload puts the running config back on disk and retries', async (t) => {
  const { store, haproxy, r, live, events } = setup(t);
  store.put('a', false);
  r.start();
  await waitFor(() => live() === 'a\n', 'first config');
  haproxy.failReload = true;
  store.put('b');
  await waitFor(() => events.includes('refused:reload'), 'refusal reported');
  await r.idle();
  t.is(live(), 'a\n', 'the file on disk is what HAProxy runs');
  haproxy.failReload = false;
  await waitFor(() => live() === 'a\nb\n', 'retried after the failure', 5000);
});
