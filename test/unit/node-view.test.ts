// The renderer's picture of the node prefix: what it serves after invalid overwrites, deletes
// and re-lists (a full list every RESYNC_INTERVAL_MS replaces the picture).
import test from 'ava';
import { NodeView } from '../../renderer/node-view.js';
import { FIXTURE_RULES } from '../helpers/fixtures.js';

const KEY = '/nodes/webapp/a';
const rec = (id: string, address = '10.0.0.1', service = 'webapp') => JSON.stringify({ id, service, address, port: 80, tag: id, weight: 1, state: 'up', registeredAt: '2026-01-01T00:00:00Z' });
/** A newer registrar's record that this renderer refuses (a field of a type it does not know). */
const newer = JSON.stringify({ ...JSON.parse(rec('a')), weight: 'heavy' });
const served = (v: NodeView) => [...v.evaluate().records.values()].map((r) => `${r.id}@${r.address}`);

test('an invalid overwrite of a live key keeps its last valid record through re-lists', (t) => {
  const v = new NodeView('/nodes/', FIXTURE_RULES);
  v.reset([{ key: KEY, value: rec('a'), createRevision: '5' }]);
  v.apply([{ type: 'put', key: KEY, value: newer, createRevision: '5' }]);
  t.deepEqual(served(v), ['a@10.0.0.1']);
  // The periodic re-lists see the same key, still invalid: the last valid record keeps serving.
  for (let i = 0; i < 3; i++) {
    v.reset([{ key: KEY, value: newer, createRevision: '5' }]);
    t.deepEqual(served(v), ['a@10.0.0.1'], `after re-list ${i + 1}`);
    t.regex(v.evaluate().rejected[0]!.reason, /invalid overwrite: the last valid record keeps serving/);
  }
  // A valid value again: served as it is.
  v.reset([{ key: KEY, value: rec('a', '10.0.0.9'), createRevision: '5' }]);
  t.deepEqual(served(v), ['a@10.0.0.9']);
  t.deepEqual(v.evaluate().rejected, []);
});

test('a key deleted forgets its last valid record: re-created invalid, it serves nothing', (t) => {
  const v = new NodeView('/nodes/', FIXTURE_RULES);
  v.reset([{ key: KEY, value: rec('a'), createRevision: '5' }]);
  v.apply([{ type: 'put', key: KEY, value: newer, createRevision: '5' }]);
  // Deleted (a watch event), then back invalid.
  v.apply([{ type: 'delete', key: KEY }, { type: 'put', key: KEY, value: newer, createRevision: '9' }]);
  t.deepEqual(served(v), []);
  // Deleted while the watch was down: the re-list no longer has it.
  v.reset([{ key: KEY, value: rec('a'), createRevision: '12' }]);
  v.apply([{ type: 'put', key: KEY, value: newer, createRevision: '12' }]);
  v.reset([]);
  t.deepEqual(served(v), []);
  v.reset([{ key: KEY, value: newer, createRevision: '15' }]);
  t.deepEqual(served(v), [], 'absent from a list, the key is gone');
});

test('past MAX_NODES_PER_SERVICE the newest keys of that service are refused and counted; the others are untouched', (t) => {
  const v = new NodeView('/nodes/', FIXTURE_RULES, 3);
  const kv = (service: string, id: string, rev: number) => ({ key: `/nodes/${service}/${id}`, value: rec(id, '10.0.0.1', service), createRevision: String(rev) });
  // Create revisions out of key order: the oldest keep serving, whatever their names.
  v.reset([kv('webapp', 'a', 50), kv('webapp', 'b', 7), kv('webapp', 'c', 9), kv('webapp', 'd', 8), kv('webapp', 'e', 60), kv('api', 'x', 70), kv('api', 'y', 71)]);
  const ev = v.evaluate();
  t.deepEqual([...ev.records.values()].map((r) => `${r.service}/${r.id}`).sort(), ['api/x', 'api/y', 'webapp/b', 'webapp/c', 'webapp/d']);
  t.deepEqual([...ev.overCap], [['webapp', 2]]);
  // One of the first leaves: the next oldest takes its place.
  v.apply([{ type: 'delete', key: '/nodes/webapp/b' }]);
  t.deepEqual([...v.evaluate().records.keys()].filter((k) => k.startsWith('/nodes/webapp/')).sort(), ['/nodes/webapp/a', '/nodes/webapp/c', '/nodes/webapp/d']);
  t.deepEqual([...v.evaluate().overCap], [['webapp', 1]]);
});

test('a key deleted and re-created between two lists (another create revision) does not inherit the old record', (t) => {
  const v = new NodeView('/nodes/', FIXTURE_RULES);
  v.reset([{ key: KEY, value: rec('a'), createRevision: '5' }]);
  v.reset([{ key: KEY, value: newer, createRevision: '40' }]);
  t.deepEqual(served(v), []);
  t.notRegex(v.evaluate().rejected[0]!.reason, /keeps serving/);
});

test('the view applies puts and deletes in order', (t) => {
  const v = new NodeView('/nodes/', FIXTURE_RULES);
  const rec = (id: string) => JSON.stringify({ id, service: 'webapp', address: '10.0.0.1', port: 80, tag: id, weight: 1, state: 'up', registeredAt: '2026-01-01T00:00:00Z' });
  v.reset([{ key: '/nodes/webapp/a', value: rec('a') }]);
  v.apply([{ type: 'put', key: '/nodes/webapp/b', value: rec('b') }, { type: 'delete', key: '/nodes/webapp/a' }, { type: 'put', key: '/nodes/webapp/c', value: rec('c') }]);
  t.deepEqual([...v.evaluate().records.values()].map((r) => r.id), ['b', 'c']);
});

test('a re-list that may reuse (same etcd, same rules) keeps what a key admitted at the same revision; a new revision or another life of the key is admitted anew', (t) => {
  // The rules change in place here without saying so: only what is admitted anew sees it.
  const rules = { ...FIXTURE_RULES, peerHosts: new Set<string>() };
  const v = new NodeView('/nodes/', rules);
  const at = (modRevision: string, createRevision = '5') => ({ key: KEY, value: rec('a', '10.0.0.7'), createRevision, modRevision });
  v.reset([at('5')]);
  t.deepEqual(served(v), ['a@10.0.0.7']);
  rules.peerHosts.add('10.0.0.7');
  v.reset([at('5')], true);
  t.deepEqual(served(v), ['a@10.0.0.7'], 'the same revision: not parsed again');
  v.reset([at('5')]);
  t.deepEqual(served(v), [], 'without reuse: admitted anew, refused by the rules now');
  rules.peerHosts.clear();
  v.reset([at('5')]);
  rules.peerHosts.add('10.0.0.7');
  v.reset([at('6')], true);
  t.deepEqual(served(v), [], 'a new revision is admitted anew');
  rules.peerHosts.clear();
  v.reset([at('6')]);
  rules.peerHosts.add('10.0.0.7');
  v.reset([at('6', '9')], true);
  t.deepEqual(served(v), [], 'another life of the key (deleted and created again, same mod revision by chance) is admitted anew');
});

test('a last valid record kept through an invalid overwrite answers to the rules as they are now: an address refused since is not served', (t) => {
  const rules = { ...FIXTURE_RULES, peerHosts: new Set<string>() };
  const v = new NodeView('/nodes/', rules);
  v.reset([{ key: KEY, value: rec('a', '10.0.0.7'), createRevision: '5' }]);
  v.apply([{ type: 'put', key: KEY, value: '{"broken', createRevision: '5' }]);
  t.deepEqual(served(v), ['a@10.0.0.7'], 'kept: the overwrite is invalid in form');
  // The address became another LB's (a peer looked up again): the re-list admits anew.
  rules.peerHosts.add('10.0.0.7');
  v.reset([{ key: KEY, value: '{"broken', createRevision: '5' }]);
  t.deepEqual(served(v), [], 'the kept record is refused by the rules now');
  const [e] = v.evaluate().rejected;
  t.true(e!.policy);
  t.regex(e!.reason, /its last valid record is refused too: address is another load balancer's/);
});

test('a re-list reuses an admission only for the same value and lease: a replaced etcd repeating revisions is admitted anew', (t) => {
  const v = new NodeView('/nodes/', { ...FIXTURE_RULES, requireLease: true });
  const at = (value: string, lease = '7') => ({ key: KEY, value, lease, createRevision: '5', modRevision: '5' });
  v.reset([at(rec('a', '10.0.0.7'))]);
  v.reset([at(rec('a', '10.0.0.8'))], true);
  t.deepEqual(served(v), ['a@10.0.0.8'], 'another value at the same revisions');
  v.reset([at(rec('a', '10.0.0.8'), '0')], true);
  t.deepEqual(served(v), [], 'another lease (none): admitted anew, refused');
});
