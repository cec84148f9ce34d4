import test from 'ava';
import type { SlotState, SlotView } from '../../common/status.js';
import { drainValue, operatorKey, parseOperatorKey, parseOperatorValue, weightValue } from '../../common/operator.js';
import { type EtcdNode, type RendererReply, buildStatus, drainDone, etcdChange, readNode, readOperator } from '../../cli/report.js';

const NOW = Date.parse('2026-11-23T10:00:00.000Z');

const record = (id: string, over: Record<string, unknown> = {}) => ({
  id,
  service: 'webapp',
  address: `172.18.0.${id.length}`,
  port: 3000,
  tag: id,
  weight: 100,
  state: 'up',
  registeredAt: '2026-11-23T09:58:30.000Z',
  ...over,
});

const node = (id: string, over: Record<string, unknown> = {}, ttl = 4): EtcdNode =>
  readNode('/nodes/', { key: `/nodes/${over.service ?? 'webapp'}/${id}`, value: JSON.stringify(record(id, over)), lease: '1311768467463790320' }, ttl)!;

const slot = (s: string, id: string | undefined, status: string, sessions = 0, state: SlotState = 'ready'): SlotView =>
  id ? { slot: s, state, node: id, address: '172.18.0.1', port: 3000, weight: 100, haproxy: { status, sessions, weight: 100 } } : { slot: s, state: 'free', haproxy: { status: 'MAINT', sessions: 0, weight: 0 } };

const lb = (url: string, slots: SlotView[], service = 'webapp'): RendererReply => ({
  url,
  status: { haproxyVersion: '3.0.11', etcd: 'connected', haproxy: 'reachable', converged: true, backends: { [service]: slots }, slots: [{ service, used: slots.filter((s) => s.node).length, total: 16 }] },
});

test('operator keys: schema, round trip, and what the renderer would ignore', (t) => {
  const at = new Date(NOW);
  t.is(operatorKey('/leasehold', 'drain', 'webapp', 'a'), '/leasehold/drain/webapp/a');
  t.deepEqual(parseOperatorKey('/leasehold/', '/leasehold/weight/api/n.1'), { kind: 'weight', service: 'api', id: 'n.1' });
  for (const other of ['/leasehold/drain/webapp', '/leasehold/pause/webapp/a', '/leasehold/drain/web app/a', '/nodes/webapp/a', '/leasehold/drain/webapp/a/b']) t.is(parseOperatorKey('/leasehold/', other), undefined, other);
  t.deepEqual(JSON.parse(drainValue(at, 'ops@box')), { at: '2026-11-23T10:00:00.000Z', by: 'ops@box' });
  t.deepEqual(JSON.parse(weightValue(7, at, 'ops@box')), { weight: 7, at: '2026-11-23T10:00:00.000Z', by: 'ops@box' });
  t.throws(() => weightValue(257, at, 'x'));
  t.like(parseOperatorValue('drain', '{}'), { ok: true }, 'any JSON object drains, as a hand-written etcdctl put would');
  t.like(parseOperatorValue('drain', '"yes"'), { ok: false });
  t.like(parseOperatorValue('drain', 'not json'), { ok: false, reason: 'value is not JSON' });
  t.like(parseOperatorValue('weight', '{"weight":256}'), { ok: true, value: { weight: 256 } });
  for (const bad of ['{"weight":257}', '{"weight":-1}', '{"weight":1.5}', '{"weight":"5"}', '{}']) t.like(parseOperatorValue('weight', bad), { ok: false }, bad);
  const big = parseOperatorValue('drain', JSON.stringify({ pad: 'x'.repeat(5000) }));
  t.true(!big.ok && big.reason.includes('4096'), 'over 4 KiB');
});

test('records are read leniently: unknown fields dropped, a bad one is a row with its reason, lease in hex', (t) => {
  const n = node('abc', { newField: 1 });
  t.like(n, { service: 'webapp', id: 'abc', lease: '123456789abcdef0', ttl: 4 });
  t.is(n.record?.weight, 100);
  const bad = readNode('/nodes/', { key: '/nodes/webapp/x', value: '{"id":"x"}', lease: '0' });
  t.like(bad, { id: 'x', lease: undefined, record: undefined });
  t.regex(bad!.invalid!, /service Required/);
  t.like(readNode('/nodes/', { key: '/nodes/webapp/x', value: JSON.stringify(record('y')) }), { invalid: 'id "y" does not match the key' });
  t.is(readNode('/nodes/', { key: '/nodes/webapp', value: '{}' }), undefined, 'not a node key');
});

test('status joins etcd, operator keys and one renderer: one row per node, totals per backend', (t) => {
  const operator = readOperator('/leasehold/', [
    { key: '/leasehold/drain/webapp/bbb', value: drainValue(new Date(NOW - 60000), 'ops@box') },
    { key: '/leasehold/weight/webapp/cccc', value: weightValue(10, new Date(NOW), 'ops@box') },
    { key: '/leasehold/weight/webapp/aa', value: '{"weight":900}' },
    { key: '/leasehold/other/thing', value: 'ignored' },
  ]);
  const r = buildStatus({
    nodes: [node('cccc'), node('aa'), node('bbb', { state: 'up' }, -1)],
    operator,
    renderers: [lb('http://lb1', [slot('s1', 'aa', 'UP', 3), slot('s2', 'bbb', 'DRAIN', 1, 'drain'), slot('s3', 'cccc', 'UP', 0), slot('s4', undefined, 'MAINT')])],
    now: NOW,
  });
  t.deepEqual(r.nodes.map((n) => n.id), ['aa', 'bbb', 'cccc'], 'sorted by service then id');
  const [aa, bbb, cccc] = r.nodes as [typeof r.nodes[0], typeof r.nodes[0], typeof r.nodes[0]];
  t.deepEqual(aa.lbs, [{ lb: 'LB1', renderer: 'http://lb1', slot: 's1', state: 'ready', target: '172.18.0.1:3000', haproxy: { status: 'UP', sessions: 3, weight: 100 } }]);
  t.like(aa, { sessions: 3, disagree: false, weight: { registrar: 100, effective: 100 }, etcd: { registered: true, state: 'up', ttl: 4, ageSeconds: 90 } });
  t.deepEqual(aa.operator.invalid, ['weight: weight Number must be less than or equal to 256']);
  t.true(aa.notes.some((n) => n.startsWith('operator key ignored')), 'an ignored operator value is pointed out');
  t.like(bbb, { operator: { drained: true, drainedBy: 'ops@box', drainedAt: '2026-11-23T09:59:00.000Z' }, etcd: { ttl: -1 } });
  t.true(bbb.notes.includes('lease expired'));
  t.like(cccc, { weight: { registrar: 100, override: 10, effective: 10 } });
  t.deepEqual(r.backends, [{ service: 'webapp', nodes: 3, up: 2, drained: 1, draining: 0, sessions: 4, slots: [{ lb: 'LB1', renderer: 'http://lb1', used: 3, total: 16 }] }]);
  t.deepEqual(r.notes, []);
  t.deepEqual(r.etcd, { reachable: true });
  t.like(r.renderers[0], { lb: 'LB1', reachable: true, haproxyVersion: '3.0.11' });
});

test('status: nodes only one side knows are rows too, with a note saying which side', (t) => {
  const r = buildStatus({
    nodes: [node('placed'), node('waiting')],
    operator: readOperator('/leasehold/', [{ key: '/leasehold/drain/webapp/gone', value: '{}' }]),
    renderers: [lb('http://lb1', [slot('s1', 'placed', 'UP'), slot('s2', 'leaver', 'MAINT', 2, 'leaving')])],
    now: NOW,
  });
  const note = (id: string) => r.nodes.find((n) => n.id === id)?.notes;
  t.deepEqual(note('leaver'), ['left etcd: sessions finishing']);
  t.deepEqual(note('waiting'), ['in no slot (pending, refused or held: see the renderer log)']);
  t.deepEqual(note('gone'), ['not registered: an operator key is left (undrain / weight --reset)']);
  t.is(r.backends[0]!.nodes, 2, 'only registered nodes count');
  t.is(r.backends[0]!.drained, 0, 'a drain left by a gone node is not a drained node');
  t.is(r.backends[0]!.sessions, 2);
});

test('status filtered by service keeps that service only', (t) => {
  const r = buildStatus({ nodes: [node('a'), node('b', { service: 'api' })], operator: new Map(), renderers: [lb('http://lb1', [slot('s1', 'b', 'UP')], 'api')], service: 'api', now: NOW });
  t.deepEqual(r.nodes.map((n) => `${n.service}/${n.id}`), ['api/b']);
  t.deepEqual(r.backends.map((b) => b.service), ['api']);
  t.is(r.service, 'api');
});

test('several renderers: one view per LB in order; a difference in HAProxy state is marked, a different slot is not', (t) => {
  const r = buildStatus({
    nodes: [node('a'), node('b')],
    operator: new Map(),
    renderers: [lb('http://lb1', [slot('s1', 'a', 'UP'), slot('s2', 'b', 'UP', 1)]), { url: 'http://lb2', error: 'ECONNREFUSED' }, lb('http://lb3', [slot('s2', 'a', 'UP 1/3'), slot('s1', 'b', 'DOWN')])],
    now: NOW,
  });
  const [a, b] = r.nodes;
  t.deepEqual(a!.lbs.map((v) => `${v.lb}:${v.slot}`), ['LB1:s1', 'LB3:s2'], 'unreachable LBs have no view');
  t.false(a!.disagree, 'UP and UP 1/3 (a check on its way) agree; slots differ per LB by design');
  t.true(b!.disagree);
  t.true(b!.notes.includes('LBs differ'));
  t.deepEqual(r.notes, ['LB2 http://lb2 unreachable: ECONNREFUSED']);
  t.deepEqual(r.backends[0]!.slots.map((s) => s.lb), ['LB1', 'LB3']);
});

test('a node placed by one LB and in no slot of the other disagrees; an LB that cannot read its HAProxy does not', (t) => {
  const r = buildStatus({ nodes: [node('a')], operator: new Map(), renderers: [lb('http://lb1', [slot('s1', 'a', 'UP')]), lb('http://lb2', [])], now: NOW });
  t.true(r.nodes[0]!.disagree);
  const blind = slot('s4', 'a', 'UP');
  delete blind.haproxy;
  const r2 = buildStatus({ nodes: [node('a')], operator: new Map(), renderers: [lb('http://lb1', [slot('s1', 'a', 'UP')]), lb('http://lb2', [blind])], now: NOW });
  t.false(r2.nodes[0]!.disagree, 'no HAProxy state to compare is no disagreement');
});

test('no renderer reachable: etcd columns only, and a note naming every renderer tried', (t) => {
  const r = buildStatus({ nodes: [node('a')], operator: new Map(), renderers: [{ url: 'http://lb1', error: 'ECONNREFUSED' }], now: NOW });
  t.deepEqual(r.nodes[0]!.lbs, []);
  t.deepEqual(r.nodes[0]!.notes, [], 'no "in no slot" guess without a renderer');
  t.is(r.notes.length, 1);
  t.regex(r.notes[0]!, /^no renderer reachable \(http:\/\/lb1: ECONNREFUSED\)/);
});

test('etcd unreachable: the renderers view, with their operator settings, and no claims about etcd', (t) => {
  const s = slot('s1', 'a', 'DRAIN', 0, 'drain');
  s.operator = { drained: true, weight: 5 };
  s.weight = 5;
  const r = buildStatus({ nodes: [], operator: new Map(), renderers: [lb('http://lb1', [s])], now: NOW, etcdError: 'etcd unreachable at http://e:2379' });
  t.like(r.nodes[0], { id: 'a', operator: { drained: true, weight: 5 }, weight: { override: 5, effective: 5 }, notes: [] });
  t.deepEqual(r.etcd, { reachable: false, error: 'etcd unreachable at http://e:2379' });
  t.regex(r.notes[0]!, /^etcd unreachable at http:\/\/e:2379: the load balancers' view only/);
});

test('drain --wait is done when every renderer shows DRAIN with 0 sessions', (t) => {
  const drain = (status: string, sessions: number) => lb('http://lb', [slot('s2', 'a', status, sessions, 'drain')]);
  t.deepEqual(drainDone([drain('DRAIN', 0)], 'webapp', 'a'), { done: true, progress: 's2 DRAIN, 0 sessions' });
  t.deepEqual(drainDone([drain('DRAIN', 1)], 'webapp', 'a'), { done: false, progress: 's2 DRAIN, 1 session' });
  t.false(drainDone([drain('UP', 0)], 'webapp', 'a').done, 'not applied yet');
  t.false(drainDone([drain('DRAIN', 0), drain('UP', 0)], 'webapp', 'a').done, 'one LB not yet');
  t.is(drainDone([drain('DRAIN', 0), { url: 'x', error: 'down' }], 'webapp', 'a').progress, 'LB1 s2 DRAIN, 0 sessions; LB2 unreachable');
  t.deepEqual(drainDone([lb('http://lb', [])], 'webapp', 'a'), { done: false, progress: 'in no slot' });
  t.false(drainDone([], 'webapp', 'a').done, 'no renderer, no proof');
});

test('watch from etcd: puts and deletes become joined/changed/left and operator events', (t) => {
  const known = new Map<string, string>();
  const p = { nodes: '/nodes/', operator: '/leasehold/' };
  const T = '2026-11-23T10:00:00.000Z';
  const v = JSON.stringify(record('a'));
  t.deepEqual(etcdChange(p, known, { type: 'put', key: '/nodes/webapp/a', value: v }, T), [{ time: T, event: 'node', service: 'webapp', id: 'a', change: 'joined', address: '172.18.0.1', port: 3000, weight: 100, state: 'up' }]);
  t.deepEqual(etcdChange(p, known, { type: 'put', key: '/nodes/webapp/a', value: v }, T), [], 'a keepalive-like rewrite of the same value says nothing');
  t.like(etcdChange(p, known, { type: 'put', key: '/nodes/webapp/a', value: JSON.stringify(record('a', { state: 'draining' })) }, T)[0], { change: 'changed', state: 'draining' });
  t.like(etcdChange(p, known, { type: 'delete', key: '/nodes/webapp/a' }, T)[0], { change: 'left', address: '172.18.0.1', state: 'draining' });
  t.is(known.size, 0);
  t.like(etcdChange(p, known, { type: 'put', key: '/leasehold/drain/webapp/a', value: '{}' }, T)[0], { event: 'operator', change: 'drained' });
  t.like(etcdChange(p, known, { type: 'delete', key: '/leasehold/drain/webapp/a' }, T)[0], { event: 'operator', change: 'undrained' });
  t.like(etcdChange(p, known, { type: 'put', key: '/leasehold/weight/webapp/a', value: '{"weight":3}' }, T)[0], { change: 'weight', weight: 3 });
  t.like(etcdChange(p, known, { type: 'delete', key: '/leasehold/weight/webapp/a' }, T)[0], { change: 'weight-reset' });
  t.like(etcdChange(p, known, { type: 'put', key: '/leasehold/weight/webapp/a', value: '{"weight":300}' }, T)[0], { event: 'invalid', key: '/leasehold/weight/webapp/a' });
  t.like(etcdChange(p, known, { type: 'put', key: '/nodes/webapp/b', value: '{' }, T)[0], { event: 'invalid', reason: 'value is not JSON' });
  t.deepEqual(etcdChange(p, known, { type: 'put', key: '/leasehold/notes/x', value: 'hello' }, T), [], 'other operator keys are not ours');
});
