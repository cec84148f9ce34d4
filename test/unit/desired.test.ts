import test from 'ava';
import { DEFAULT_RULES } from '../../common/admission.js';
import { Desired } from '../../renderer/desired.js';

// The desired state alone (pure): records in, what to serve out, against admission rules that
// change while records stay (a peer LB's address looked up again).
const rec = (id: string, address: string) => JSON.stringify({ id, service: 'webapp', address, port: 3000, tag: id, weight: 100, state: 'up', registeredAt: '2026-01-01T00:00:00Z' });
const kv = (id: string, address: string) => ({ key: `/nodes/webapp/${id}`, value: rec(id, address), lease: '7', createRevision: '5' });

function desired() {
  const peerHosts = new Set<string>();
  let now = 0;
  const d = new Desired({ prefix: '/nodes/', operatorPrefix: '/leasehold/', admission: { ...DEFAULT_RULES, peerHosts }, holdMs: 15000, failStaticShare: 0.5, failStaticWindowMs: 10000, failStaticMaxMs: 60000, maxNodesPerService: 20000 }, () => now);
  const fs: string[] = [];
  d.on('failStatic', (e) => fs.push(`${e.change}:${e.ids.join(',')}`));
  return { d, fs, peerHosts, advance: (ms: number) => (now += ms) };
}

test("a record the rules now refuse (its address became another LB's) leaves at once: not kept as its last valid value, not held by fail static", (t) => {
  const { d, fs, peerHosts } = desired();
  d.onSnapshot({ revision: 1n, kvs: [kv('a', '10.0.0.7')] }, new Map());
  t.deepEqual(d.records().map((r) => r.address), ['10.0.0.7']);
  peerHosts.add('10.0.0.7');
  d.onSnapshot({ revision: 2n, kvs: [kv('a', '10.0.0.7')] }, new Map());
  t.deepEqual(d.records().map((r) => r.address), [], 'the last node, refused by the rules: gone');
  t.deepEqual(fs, []);
});

test('a re-list does not admit unchanged keys again (10,000 at a time), unless the rules changed (readmitAll) or another etcd answers', (t) => {
  const { d, peerHosts } = desired();
  const at = (rev: string) => ({ ...kv('a', '10.0.0.7'), modRevision: rev });
  d.onSnapshot({ revision: 10n, clusterId: 'c1', kvs: [at('5')] }, new Map());
  peerHosts.add('10.0.0.7'); // the rules change in place: nothing admitted anew sees it yet
  d.onSnapshot({ revision: 11n, clusterId: 'c1', kvs: [at('5')] }, new Map());
  t.deepEqual(d.records().map((r) => r.address), ['10.0.0.7'], 'a periodic re-list: the key at the same revision is not parsed again');
  d.readmitAll();
  d.onSnapshot({ revision: 12n, clusterId: 'c1', kvs: [at('5')] }, new Map());
  t.deepEqual(d.records().map((r) => r.address), [], 'after readmitAll, admitted anew under the rules as they are');
  // Admitted again under open rules at `revision` of `clusterId`, then the rules refuse it in place.
  const admittedThenRefused = (revision: bigint, clusterId: string) => {
    peerHosts.clear();
    d.readmitAll();
    d.onSnapshot({ revision, clusterId, kvs: [at('5')] }, new Map());
    peerHosts.add('10.0.0.7');
  };
  admittedThenRefused(12n, 'c1');
  d.onSnapshot({ revision: 12n, clusterId: 'c2', kvs: [at('5')] }, new Map());
  t.deepEqual(d.records().map((r) => r.address), [], 'another cluster: the same revision may hold another value');
  admittedThenRefused(20n, 'c2');
  d.onSnapshot({ revision: 15n, clusterId: 'c2', kvs: [at('5')] }, new Map());
  t.deepEqual(d.records().map((r) => r.address), [], 'the same etcd gone back (a restored snapshot): admitted anew');
});

test('an invalid overwrite of a live key (its form, not the rules) still keeps the last valid record', (t) => {
  const { d } = desired();
  d.onSnapshot({ revision: 1n, kvs: [kv('a', '10.0.0.7')] }, new Map());
  d.records();
  d.onEvents([{ type: 'put', key: '/nodes/webapp/a', value: '{"id":"a","state":"gone"}', lease: '7', createRevision: '5' } as never]);
  t.deepEqual(d.records().map((r) => r.address), ['10.0.0.7']);
});

test('10,000 nodes deleted in one batch: one pass holds them all in well under a second (linear)', (t) => {
  const { d, fs } = desired();
  const kvs = Array.from({ length: 10000 }, (_, i) => kv(`n${i}`, `10.${(i >> 8) & 255}.${i & 255}.1`));
  d.onSnapshot({ revision: 1n, kvs }, new Map());
  t.is(d.records().length, 10000);
  d.onEvents(kvs.map((x) => ({ type: 'delete', key: x.key }) as never));
  const t0 = performance.now();
  t.is(d.records().length, 10000, 'all held');
  const ms = performance.now() - t0;
  t.true(ms < 500, `${ms.toFixed(0)} ms`);
  t.is(fs.length, 1);
});

const leaving = (id: string, address: string) => ({ ...kv(id, address), value: rec(id, address).replace('"state":"up"', '"state":"leaving"') });
const servedOf = (d: Desired) => new Map(d.records().map((r) => [`/nodes/webapp/${r.id}`, r]));

test('a node that leaves gracefully while a suspicious list is held is not brought back by the hold', (t) => {
  const { d } = desired();
  const all = ['a', 'b', 'c', 'd'].map((id, i) => kv(id, `10.0.0.${i + 1}`));
  d.onSnapshot({ revision: 1n, kvs: all }, new Map());
  const served = servedOf(d);
  // A re-list that finds most of them gone: held.
  d.onSnapshot({ revision: 2n, kvs: [all[3]!] }, served);
  t.deepEqual(d.records().map((r) => r.id).sort(), ['a', 'b', 'c', 'd']);
  // d leaves gracefully (its record marked leaving, then its lease revoked).
  d.onEvents([{ type: 'put', ...leaving('d', '10.0.0.4') } as never]);
  t.deepEqual(d.records().map((r) => r.id).sort(), ['a', 'b', 'c'], 'out at once');
  d.onEvents([{ type: 'delete', key: '/nodes/webapp/d' } as never]);
  t.deepEqual(d.records().map((r) => r.id).sort(), ['a', 'b', 'c'], 'and not back when its key goes');
});

test('a re-list while a hold lasts does not renew the hold from the nodes only the hold serves', (t) => {
  const { d, advance } = desired();
  const all = ['a', 'b', 'c'].map((id, i) => kv(id, `10.0.0.${i + 1}`));
  d.onSnapshot({ revision: 1n, kvs: all }, new Map());
  d.onSnapshot({ revision: 2n, kvs: [all[2]!] }, servedOf(d));
  t.is(d.records().length, 3, 'held');
  // Re-lists keep coming, 10 s apart (a flapping watch, the admission addresses looked up again):
  // each finds a and b still gone, as they were when the hold began.
  for (let i = 0; i < 7; i++) {
    advance(10000);
    d.onSnapshot({ revision: BigInt(3 + i), kvs: [all[2]!] }, servedOf(d));
  }
  t.deepEqual(d.records().map((r) => r.id), ['c'], 'gone once the hold (15 s) and fail static (60 s) are over');
});
