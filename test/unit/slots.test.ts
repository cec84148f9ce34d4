import test from 'ava';
import type { NodeRecord } from '../../common/record.js';
import { type ActualServer, SlotTable, grownSize } from '../../renderer/slots.js';

// An address of its own per id (one slot per address and port: see the duplicates test).
const addressOf = (id: string) => {
  let h = 2166136261;
  for (const c of id) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return `10.${(h >>> 16) & 255}.${(h >>> 8) & 255}.${h & 255}`;
};
const rec = (id: string, o: Partial<NodeRecord> = {}): NodeRecord => ({ id, service: 'webapp', address: addressOf(id), port: 3000, tag: id, weight: 100, state: 'up', registeredAt: '2026-01-01T00:00:00Z', ...o });
const table = (minSlots = 4, shrinkAfterMs = 1000) => new SlotTable({ defaultService: 'webapp', minSlots, shrinkAfterMs });
const view = (t: SlotTable, service = 'webapp') => t.pool(service)!.slots.map((s) => `${s.name}:${s.state}${s.node ? `:${s.node.id}` : ''}`);

test('new nodes take the lowest free slots in id order; nodes keep their slots', (t) => {
  const s = table();
  s.plan([rec('b'), rec('a')], 0);
  t.deepEqual(view(s), ['s1:ready:a', 's2:ready:b', 's3:free', 's4:free']);
  s.plan([rec('b'), rec('c')], 1);
  t.deepEqual(view(s), ['s1:leaving:a', 's2:ready:b', 's3:ready:c', 's4:free']);
});

test('a node back while its slot is leaving gets the same slot; a freed slot takes the next node', (t) => {
  const s = table();
  s.plan([rec('a'), rec('b')], 0);
  s.plan([rec('b')], 1);
  s.plan([rec('a'), rec('b')], 2);
  t.deepEqual(view(s), ['s1:ready:a', 's2:ready:b', 's3:free', 's4:free']);
  s.plan([rec('b')], 3);
  s.free('webapp', 's1');
  s.plan([rec('b'), rec('x')], 4);
  t.deepEqual(view(s), ['s1:ready:x', 's2:ready:b', 's3:free', 's4:free']);
});

test('pool sizes: quadrupling while small, then by half in steps of 1,024', (t) => {
  t.deepEqual([16, 64, 256].map((n) => grownSize(n, n + 1)), [64, 256, 1024]);
  t.is(grownSize(1024, 1025), 2048);
  t.is(grownSize(2048, 2049), 3072);
  t.is(grownSize(16, 10000), 13312, '10,000 at once: 12,500 rounded up');
  t.is(grownSize(16, 17), 64);
});

test('a rolling replacement takes the leavers\' slots instead of growing the pool', (t) => {
  const s = table(4);
  s.plan(['a', 'b', 'c', 'd'].map((x) => rec(x)), 0);
  t.false(s.plan(['e', 'f', 'g', 'h'].map((x) => rec(x)), 1), 'no structural change');
  t.deepEqual(view(s), ['s1:ready:e', 's2:ready:f', 's3:ready:g', 's4:ready:h']);
});

test('a pool never grows past maxSlots: the rest wait, counted', (t) => {
  const s = new SlotTable({ defaultService: 'webapp', minSlots: 4, maxSlots: 8, shrinkAfterMs: 1000 });
  s.plan(Array.from({ length: 11 }, (_, i) => rec(`n${i}`)), 0);
  t.is(s.pool('webapp')!.slots.length, 8);
  t.is(s.unplaced, 3);
});

test('draining records sit in drain; a changed record updates its slot in place', (t) => {
  const s = table();
  s.plan([rec('a')], 0);
  s.plan([rec('a', { state: 'draining', address: '10.9.9.9' })], 1);
  t.deepEqual(view(s), ['s1:drain:a', 's2:free', 's3:free', 's4:free']);
  t.is(s.pool('webapp')!.slots[0]!.node!.address, '10.9.9.9');
});

test('a full pool grows geometrically (a structural change); a reload frees leaving slots', (t) => {
  const s = table(4);
  t.true(s.plan([], 0), 'the default service appears');
  t.false(s.plan(['a', 'b', 'c'].map((x) => rec(x)), 0));
  t.true(s.plan(['a', 'b', 'c', 'd', 'e'].map((x) => rec(x)), 0));
  t.is(s.pool('webapp')!.slots.length, 16, 'quadruples while small');
  t.true(s.plan(Array.from({ length: 3000 }, (_, i) => rec(`n${i}`)), 0));
  t.is(s.pool('webapp')!.slots.length, 4096, 'a burst jumps to what fits with a quarter to spare, in steps of 1,024');
  s.plan([], 1);
  t.is(s.pool('webapp')!.slots.filter((x) => x.state === 'leaving').length, 3000, 'a to e left, and newcomers took their slots');
  s.reloaded();
  t.is(s.pool('webapp')!.slots.filter((x) => x.state === 'leaving').length, 0);
});

test('a pool at most a quarter used shrinks only after shrinkAfterMs; nodes beyond the new size move down', (t) => {
  const s = table(4, 1000);
  s.plan(Array.from({ length: 9 }, (_, i) => rec(`n${i}`)), 0);
  t.is(s.pool('webapp')!.slots.length, 16);
  s.reloaded();
  s.plan([rec('n8')], 10); // n8 sits in s9
  s.reloaded();
  t.false(s.plan([rec('n8')], 500), 'low since 500');
  t.false(s.plan([rec('n8')], 1400), 'not yet');
  t.true(s.plan([rec('n8', { weight: 5 })], 1500), 'shrunk');
  t.deepEqual(view(s), ['s1:ready:n8', 's2:free', 's3:free', 's4:free']);
  t.deepEqual(s.changes.map((c) => `${c.change} ${c.r.id} ${c.slot}`), ['changed n8 s1'], 'the event names the slot it moved to');
});

test('an empty service no worker ran goes at once; one that ran goes lazily; the default stays', (t) => {
  const s = table(4, 1000);
  s.plan([rec('a', { service: 'api' })], 0);
  s.plan([], 1);
  s.free('api', 's1');
  s.plan([], 2);
  t.is(s.pool('api'), undefined, 'never live: gone at once');
  s.plan([rec('a', { service: 'api' })], 3);
  s.live();
  s.plan([], 4);
  s.free('api', 's1');
  s.plan([], 5);
  t.truthy(s.pool('api'), 'live: kept for now');
  s.plan([], 1010);
  t.is(s.pool('api'), undefined, 'gone after shrinkAfterMs');
  t.truthy(s.pool('webapp'));
});

test('adopt takes what HAProxy runs: matching addresses keep their slots and the pool size', (t) => {
  const s = table(4);
  const srv = (server: string, address: string, admin = 0): ActualServer => ({ backend: 'webapp', server, address, port: 3000, admin, weight: 100 });
  const actual = [srv('s1', '10.0.0.7', 5), srv('s2', '10.0.0.1'), srv('s3', '10.0.0.7'), ...Array.from({ length: 5 }, (_, i) => srv(`s${i + 4}`, '127.0.0.1', 5))];
  const records = [rec('a', { address: '10.0.0.1' }), rec('seven', { address: '10.0.0.7' }), rec('new', { address: '10.0.0.3' })];
  s.adopt(actual, records, 0);
  t.false(s.plan(records, 0), 'same structure: 8 slots');
  t.deepEqual(view(s).slice(0, 4), ['s1:ready:new', 's2:ready:a', 's3:ready:seven', 's4:free'], 'the copy in maintenance does not win; the new node takes s1');
});

test('adopt ignores backends whose servers are not slots (a hand-written config)', (t) => {
  const s = table(4);
  s.adopt([{ backend: 'webapp', server: 'web1', address: '10.0.0.1', port: 3000, admin: 0, weight: 1 }], [rec('a', { address: '10.0.0.1' })], 0);
  s.plan([rec('a', { address: '10.0.0.1' })], 0);
  t.deepEqual(view(s), ['s1:ready:a', 's2:free', 's3:free', 's4:free']);
});

test('one node per address and port: the one in a slot keeps it, the others wait and take over when it goes', (t) => {
  const s = table();
  const at = { address: '10.9.9.9', port: 8080 };
  s.plan([rec('old', { ...at, registeredAt: '2026-01-01T00:00:01Z' }), rec('other')], 0);
  // Two more of one endpoint: a container back at the address of one whose lease has not expired
  // yet, or a hostile service writing thousands (HAProxy's output on equal cookies grows with their square).
  s.plan([rec('old', { ...at, registeredAt: '2026-01-01T00:00:01Z' }), rec('new', { ...at, registeredAt: '2026-01-01T00:00:02Z' }), rec('aaa', { ...at, registeredAt: '2026-01-01T00:00:00Z' }), rec('other')], 1);
  t.deepEqual(view(s), ['s1:ready:old', 's2:ready:other', 's3:free', 's4:free'], 'the node in the slot stays, even against an older registration');
  t.is(s.duplicates, 2);
  s.plan([rec('new', { ...at, registeredAt: '2026-01-01T00:00:02Z' }), rec('aaa', { ...at, registeredAt: '2026-01-01T00:00:00Z' }), rec('other')], 2);
  t.deepEqual(view(s), ['s1:ready:aaa', 's2:ready:other', 's3:free', 's4:free'], 'then the first registered of those left, in the slot that points at it already');
  t.is(s.duplicates, 1);
  const many = Array.from({ length: 5000 }, (_, i) => rec(`d${i}`, at));
  s.plan([...many, rec('other')], 3);
  t.is(s.pool('webapp')!.slots.length, 4, 'thousands of one endpoint take one slot: no pool growth');
});

test('a node at the endpoint of a leaving slot takes that slot, not a free one: HAProxy keeps it UP', (t) => {
  const s = table();
  // A renderer restarted on an emptied etcd holds what HAProxy served under ids of its own.
  s.plan([rec('a-held', { address: '10.1.1.1' }), rec('b')], 0);
  s.plan([rec('b')], 1);
  t.deepEqual(view(s), ['s1:leaving:a-held', 's2:ready:b', 's3:free', 's4:free']);
  s.plan([rec('b'), rec('c0', { address: '10.1.1.1' })], 2);
  t.deepEqual(view(s), ['s1:ready:c0', 's2:ready:b', 's3:free', 's4:free'], 'c0 is where its endpoint already is');
  // The same in one pass: the hold ends as the node's own record is served.
  s.plan([rec('b'), rec('x', { address: '10.2.2.2' })], 3);
  s.plan([rec('b'), rec('y', { address: '10.2.2.2', port: 3001 }), rec('z', { address: '10.2.2.2' })], 4);
  t.deepEqual(view(s), ['s1:leaving:c0', 's2:ready:b', 's3:ready:z', 's4:ready:y'], 'another port is another endpoint');
});

test('a plan names what it changed: joined, left, changed, leavers first, by service and slot', (t) => {
  const s = new SlotTable({ defaultService: 'webapp', services: ['api'], minSlots: 4, shrinkAfterMs: 1000 });
  const ev = () => s.changes.map((c) => `${c.change} ${c.r.service}/${c.r.id} ${c.slot}`);
  s.plan([rec('b'), rec('a'), rec('z', { service: 'api' })], 0);
  t.deepEqual(ev(), ['joined api/z s1', 'joined webapp/a s1', 'joined webapp/b s2']);
  s.plan([rec('b'), rec('a'), rec('z', { service: 'api' })], 1);
  t.deepEqual(ev(), [], 'nothing changed: nothing said');
  s.plan([rec('b', { weight: 7 }), rec('z', { service: 'api', tag: 'new' }), rec('c')], 2);
  t.deepEqual(ev(), ['left webapp/a s1', 'changed api/z s1', 'changed webapp/b s2', 'joined webapp/c s3']);
  s.plan([rec('b', { weight: 7 }), rec('z', { service: 'api', tag: 'new' }), rec('c'), rec('a')], 3);
  t.deepEqual(ev(), ['joined webapp/a s1'], 'back while its slot was leaving: joined again, in the same slot');
  s.plan([rec('b', { weight: 7, state: 'draining' }), rec('z', { service: 'api', tag: 'new' }), rec('c'), rec('a')], 4);
  t.deepEqual(ev(), ['changed webapp/b s2'], 'a drain is a change');
  s.plan([rec('b', { weight: 7, state: 'draining' }), rec('z', { service: 'api', tag: 'new' }), rec('a')], 5);
  s.plan([rec('b', { weight: 7, state: 'draining' }), rec('z', { service: 'api', tag: 'new' }), rec('a'), rec('c2', { address: addressOf('c') })], 6);
  t.deepEqual(ev(), ['joined webapp/c2 s3'], 'another id at a leaving endpoint joins in that slot');
});
