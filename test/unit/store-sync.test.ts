// The store loop on an in-memory store: whatever a list or a watch does, the loop lists and
// watches again, and says how long it has been out of sync.
import test from 'ava';
import { StoreSync, type StoreEvent, retryDelayMs } from '../../renderer/store-sync.js';
import type { NodeStore, Snapshot, WatchHandle, WatchHandlers } from '../../common/store.js';
import { waitFor } from '../../harness/wait.js';

/** A store whose next calls can be made to fail or to hang. */
class ScriptedStore implements NodeStore {
  lists = 0;
  watches: WatchHandlers[] = [];
  cancelled = 0;
  /** Each list takes the next of these: an error to throw, 'hang' to never answer, undefined to work. */
  listScript: (Error | 'hang' | undefined)[] = [];
  watchScript: (Error | 'hang' | undefined)[] = [];
  async list(): Promise<Snapshot> {
    this.lists++;
    const next = this.listScript.shift();
    if (next === 'hang') return new Promise(() => undefined);
    if (next) throw next;
    return { revision: 10n, clusterId: 'c1', kvs: [] };
  }
  async watch(_p: string, _r: bigint, h: WatchHandlers): Promise<WatchHandle> {
    const next = this.watchScript.shift();
    if (next === 'hang') return new Promise(() => undefined);
    if (next) throw next;
    this.watches.push(h);
    return { cancel: async () => void this.cancelled++ };
  }
}

function start(t: import('ava').ExecutionContext, store: NodeStore, o: ConstructorParameters<typeof StoreSync>[3] = {}) {
  const events: StoreEvent[] = [];
  const sync = new StoreSync(store, '/nodes/', { snapshot: () => undefined, events: () => undefined, report: (e) => events.push(e) }, o);
  t.teardown(() => sync.stop());
  sync.resync('start');
  return { sync, events, synced: () => events.filter((e) => e.state === 'synced').length };
}

test('a list that throws a TypeError (a bug, a library surprise) is retried like any failure', async (t) => {
  const store = new ScriptedStore();
  store.listScript = [new TypeError("Cannot read properties of undefined (reading 'revision')")];
  const { synced, events } = start(t, store);
  await waitFor(() => synced() === 1, 'synced after the TypeError', 5000);
  t.is(store.lists, 2);
  t.is(events[0]!.state, 'unreachable');
});

test('a watch whose creation never answers is given up after watchTimeoutMs, and the loop lists again', async (t) => {
  const store = new ScriptedStore();
  store.watchScript = ['hang'];
  const { synced, events } = start(t, store, { watchTimeoutMs: 200 });
  await waitFor(() => synced() === 1, 'synced with a second watch', 5000);
  t.is(store.lists, 2);
  t.regex(events[0]!.error!.message, /not created within 200 ms/);
});

test('a broken watch and failing re-lists are never silent: unsyncedMs counts from the break until the loop is back', async (t) => {
  let now = 1000;
  const store = new ScriptedStore();
  const { sync, synced } = start(t, store, { clock: () => now });
  await waitFor(() => synced() === 1, 'first sync', 5000);
  t.is(sync.unsyncedMs(), 0);
  // The watch breaks; the re-list fails twice, then works.
  store.listScript = [new Error('etcd away'), new Error('etcd away')];
  now = 2000;
  store.watches[0]!.broken(new Error('stream reset'));
  now = 2500;
  t.is(sync.unsyncedMs(), 500, 'counted from the moment the watch broke');
  await waitFor(() => synced() === 2, 'synced again', 10000);
  t.is(sync.unsyncedMs(), 0);
  t.is(store.lists, 4);
});

test('retries are jittered and bounded forever: [100, 200) ms first, doubling, then [2.5, 5) s', (t) => {
  t.is(retryDelayMs(1, () => 0), 100);
  t.is(retryDelayMs(2, () => 0), 200);
  for (const n of [6, 7, 50, 1e6]) {
    t.is(retryDelayMs(n, () => 0), 2500, `attempt ${n}`);
    t.true(retryDelayMs(n, () => 0.999999) < 5000);
  }
  const draws = new Set(Array.from({ length: 20 }, () => retryDelayMs(1000)));
  t.true(draws.size > 10, 'two load balancers that lost etcd together do not retry in step');
});

test('out of sync from the start until the first list and watch', async (t) => {
  let now = 0;
  const store = new ScriptedStore();
  store.listScript = ['hang'];
  const { sync } = start(t, store, { clock: () => now });
  now = 45000;
  t.is(sync.unsyncedMs(), 45000);
});
