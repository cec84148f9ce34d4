import test from 'ava';
import { Membership } from '../../renderer/reconciler.js';
import { type DesiredServer, afterAddress, diff, fingerprint, refusedAnswer, tookAddress } from '../../renderer/diff.js';
import { splitAnswers } from '../../renderer/runtime.js';
import { canonicalIp, parseServersState, parseStatAddresses, parseStatServers, parseStatSessions, parseVar } from '../../renderer/runtime-state.js';
import type { ActualServer } from '../../renderer/slots.js';
import { type Actual, observeServers, observeWorker } from '../../renderer/observe.js';
import { FakeHaproxy } from '../helpers/fake-haproxy.js';

const want = (server: string, admin: DesiredServer['admin'], address = '10.0.0.1', port = 3000, weight = 100): DesiredServer =>
  admin === 'maint' ? { backend: 'webapp', server, admin } : { backend: 'webapp', server, admin, node: server, address, port, weight };
const have = (server: string, admin: number, address = '10.0.0.1', port = 3000, weight = 100): ActualServer => ({ backend: 'webapp', server, address, port, admin, weight });

test('a free slot being assigned: its address alone first, then weight and ready once HAProxy took it', (t) => {
  const first = diff([want('s1', 'ready', '10.0.0.9', 4000, 7)], [have('s1', 5, '127.0.0.1', 1, 1)]);
  t.deepEqual(first.differences[0]!.commands, ['set server webapp/s1 addr 10.0.0.9 port 4000']);
  const second = diff([want('s1', 'ready', '10.0.0.9', 4000, 7)], [have('s1', 5, '10.0.0.9', 4000, 1)]);
  t.deepEqual(second.differences[0]!.commands, ['set server webapp/s1 weight 7', 'set server webapp/s1 state ready']);
});

test('HAProxy took an address only when its answer says so for both address and port', (t) => {
  // HAProxy 2.6's answers, as printed.
  t.true(tookAddress("IP changed from '127.0.0.1' to '10.0.0.5', port changed from '3000' to '3001' by 'stats socket command'\n", '10.0.0.5', 3001));
  t.true(tookAddress("no need to change the addr, no need to change the port by 'stats socket command'\n", '10.0.0.5', 3001));
  t.true(tookAddress("IP changed from '127.0.0.1' to '::1', no need to change the port by 'stats socket command'", '0:0::1', 3000));
  t.false(tookAddress("IP changed from '127.0.0.1' to '10.0.0.6', no need to change the port by 'stats socket command'", '10.0.0.5', 3000), 'another address');
  t.false(tookAddress("no need to change the addr, port changed from '1' to '3001' by 'stats socket command'", '10.0.0.5', 3000), 'another port');
  t.false(tookAddress("Invalid addr 'fe80::1%lo' by 'stats socket command'", 'fe80::1%lo', 3000));
  t.false(tookAddress("no need to change the addr, can't change <port> to port map because it is incompatible with current health check port configuration (use 'port' statement from the 'server' directive. by 'stats socket command'", '10.0.0.5', 3000));
  t.false(tookAddress('', '10.0.0.5', 3000), 'an empty answer says nothing');
  // HAProxy 3.0's: only what changed.
  t.true(tookAddress('nothing changed\n', '10.0.0.5', 3000), 'both were already so');
  t.true(tookAddress("IP changed from '127.0.0.1' to '10.0.0.5' by 'stats socket command'\n", '10.0.0.5', 3000));
  t.true(tookAddress("port changed from '3000' to '3001' by 'stats socket command'\n", '10.0.0.5', 3001));
  t.true(tookAddress("IP changed from '10.0.0.5' to '::ffff:10.0.0.9' by 'stats socket command'\n", '::ffff:10.0.0.9', 3001));
  t.false(tookAddress("Invalid addr 'fe80::1%lo'\n", 'fe80::1%lo', 3000));
  t.false(tookAddress("port changed from '3000' to '3002' by 'stats socket command'\n", '10.0.0.5', 3001), 'another port');
});

test('weight and ready follow a new address in the same reconcile only once HAProxy answered it took it', (t) => {
  const [x] = diff([want('s1', 'ready', '10.0.0.9', 4000, 7)], [have('s1', 5, '127.0.0.1', 1, 1)]).differences;
  const took = "IP changed from '127.0.0.1' to '10.0.0.9', port changed from '1' to '4000' by 'stats socket command'";
  t.deepEqual(afterAddress(x!, [took]), ['set server webapp/s1 weight 7', 'set server webapp/s1 state ready']);
  t.deepEqual(afterAddress(x!, ["Invalid addr '10.0.0.9' by 'stats socket command'"]), []);
  t.deepEqual(afterAddress(x!, ['']), [], 'no answer is no confirmation');
  // A node in rotation moving: maint and addr both taken, then ready; maint refused, nothing more.
  const [y] = diff([want('s1', 'ready', '10.0.0.9')], [have('s1', 0, '10.0.0.1')]).differences;
  const moved = "IP changed from '10.0.0.1' to '10.0.0.9', no need to change the port by 'stats socket command'";
  t.deepEqual(afterAddress(y!, ['', moved]), ['set server webapp/s1 state ready']);
  t.deepEqual(afterAddress(y!, ['No such server.', moved]), []);
  // Not an address change: nothing follows.
  const [z] = diff([want('s1', 'ready', '10.0.0.1', 3000, 7)], [have('s1', 0)]).differences;
  t.deepEqual(afterAddress(z!, ['']), []);
});

function worker(): FakeHaproxy {
  const h = new FakeHaproxy('/nonexistent');
  h.load('backend webapp\n  server s1 127.0.0.1:1 weight 1 disabled\n  server s2 127.0.0.1:1 weight 1 disabled\n');
  return h;
}

test('a join takes one re-read of the worker, not one per round; a refused address stays out of rotation', async (t) => {
  const h = worker();
  const m = new Membership(h, () => observeWorker(h, []));
  const start = await observeWorker(h, []);
  h.refuseAddress = /^10\.6\.6\.6$/;
  const reads = h.reads;
  const out = await m.reconcile([want('s1', 'ready', '10.0.0.9', 4000, 7), want('s2', 'ready', '10.6.6.6', 4000, 7)], start);
  t.deepEqual(h.live(), ['webapp/s1=10.0.0.9:4000']);
  t.false(h.commands.includes('set server webapp/s2 state ready'), 'never in rotation at the address it had');
  t.deepEqual(out.unconverged.map((x) => x.desired.server), ['s2']);
  t.true(out.refused.every((r) => r.command === 'set server webapp/s2 addr 10.6.6.6 port 4000'));
  // s1 converged after its first re-read; s2's address was tried in each of the 3 rounds.
  t.is(h.reads - reads, 3);
  const h2 = worker();
  const m2 = new Membership(h2, () => observeWorker(h2, []));
  const reads2 = h2.reads;
  const ok = await m2.reconcile([want('s1', 'ready', '10.0.0.9', 4000, 7)], await observeWorker(h2, []));
  t.is(ok.unconverged.length, 0);
  t.is(h2.reads - reads2, 2, 'the start and one re-read');
  t.deepEqual(h2.inRotationAt, ['webapp/s1=10.0.0.9:4000']);
});

/** The renderer's reader: whole reads, and read-backs of touched servers against the last one. */
function reader(h: FakeHaproxy) {
  const whole = () => observeWorker(h, []);
  return { whole, observe: async (touched?: ActualServer[], last?: Actual) => (touched && last ? observeServers(h, touched, last) : whole()) };
}

test('a change reads back only the servers it touched: a show stat line each, never the whole table', async (t) => {
  for (const late of [false, true]) {
    const h = worker();
    h.lateAddresses = late;
    const r = reader(h);
    const m = new Membership(h, r.observe);
    const start = await r.whole();
    const [reads, stats] = [h.reads, h.statReads];
    const out = await m.reconcile([want('s1', 'ready', '10.0.0.9', 4000, 7), want('s2', 'maint')], start);
    t.is(out.unconverged.length, 0, `late addresses: ${late}`);
    t.deepEqual(h.live(), ['webapp/s1=10.0.0.9:4000']);
    t.deepEqual(h.inRotationAt, ['webapp/s1=10.0.0.9:4000'], 'never in rotation at its old address');
    t.is(h.reads - reads, 0, 'no show servers state');
    t.true(h.statReads - stats <= 4, `${h.statReads - stats} show stat lines for one server`);
  }
});

test('a drain of a server whose check fails (show stat says DOWN, hiding the drain) is read from its backend and converges', async (t) => {
  const h = worker();
  h.failingChecks.add('webapp/s1');
  const r = reader(h);
  const m = new Membership(h, r.observe);
  const start = await r.whole();
  const reads = h.reads;
  const out = await m.reconcile([want('s1', 'drain', '127.0.0.1', 1, 1), want('s2', 'maint')], start);
  t.is(out.unconverged.length, 0);
  t.is(h.commands.filter((c) => c === 'set server webapp/s1 state drain').length, 1, 'sent once, not once a round');
  t.is(h.reads - reads, 1, "one read of the backend's servers state");
});

test('show stat lines prove address, user weight and admin state; DOWN and NOLB prove no admin state', (t) => {
  const csv = [
    '# pxname,svname,qcur,scur,status,weight,addr,uweight,',
    'b,s1,0,0,MAINT,10,127.0.0.1:9,10,',
    'b,s2,0,0,DRAIN,0,[2001:db8::5]:3000,20,',
    'b,s3,0,0,no check,30,10.0.0.3:80,30,',
    'b,s4,0,0,DOWN,20,10.0.0.4:80,20,',
    'b,s5,0,0,UP 1/2,5,10.0.0.5:80,5,',
    'b,s6,0,0,MAINT (via c/s1),5,10.0.0.6:80,5,',
    'b,BACKEND,0,0,UP,65,,65,',
  ].join('\n');
  const m = parseStatServers(csv);
  t.deepEqual(m.get('b/s1'), { address: '127.0.0.1', port: 9, weight: 10, admin: 0x01 });
  t.deepEqual(m.get('b/s2'), { address: '2001:db8::5', port: 3000, weight: 20, admin: 0x08 });
  t.is(m.get('b/s3')!.admin, 0);
  t.is(m.get('b/s4')!.admin, undefined);
  t.is(m.get('b/s5')!.admin, 0);
  t.is(m.get('b/s6')!.admin, 0x02);
  t.is(m.size, 6);
  t.is(parseStatServers('# pxname,svname,status,weight,addr\nb,s1,UP,1,10.0.0.1:80').size, 0, 'no uweight column (before 2.4): no row vouched for');
});

test('HAProxy ≥ 2.9 applies an address after answering: ready waits until the address shows applied', async (t) => {
  const h = worker();
  h.lateAddresses = true; // applied only at the next whole read: the worst case
  const m = new Membership(h, () => observeWorker(h, []));
  // s2 moves its port only: the answer names the port, and show stat still shows the old one.
  const out = await m.reconcile([want('s1', 'ready', '10.0.0.9', 4000, 7), want('s2', 'ready', '127.0.0.1', 4001, 7)], await observeWorker(h, []));
  t.is(out.unconverged.length, 0);
  t.deepEqual(h.inRotationAt, ['webapp/s1=10.0.0.9:4000', 'webapp/s2=127.0.0.1:4001'], 'never in rotation at 127.0.0.1:1');
  t.deepEqual(h.live(), ['webapp/s1=10.0.0.9:4000', 'webapp/s2=127.0.0.1:4001']);
});

test('a node in rotation that moves goes out of rotation while its address changes', (t) => {
  const d = diff([want('s1', 'ready', '10.0.0.9')], [have('s1', 0, '10.0.0.1')]);
  t.deepEqual(d.differences[0]!.commands, ['set server webapp/s1 state maint', 'set server webapp/s1 addr 10.0.0.9 port 3000']);
});

test('leaving is one command; a server already in forced maintenance needs none, config-disabled alone does', (t) => {
  t.deepEqual(diff([want('s1', 'maint')], [have('s1', 0)]).differences[0]!.commands, ['set server webapp/s1 state maint']);
  t.deepEqual(diff([want('s1', 'maint')], [have('s1', 5)]).differences, []);
  t.deepEqual(diff([want('s1', 'maint')], [have('s1', 4)]).differences[0]!.commands, ['set server webapp/s1 state maint'], 'CMAINT alone serves');
});

test('drain and ready are told apart; hand-made drain or maintenance is undone', (t) => {
  t.deepEqual(diff([want('s1', 'drain')], [have('s1', 0)]).differences[0]!.commands, ['set server webapp/s1 state drain']);
  t.deepEqual(diff([want('s1', 'drain')], [have('s1', 12)]).differences, [], 'FDRAIN|CMAINT is drain');
  t.deepEqual(diff([want('s1', 'ready')], [have('s1', 8)]).differences[0]!.commands, ['set server webapp/s1 state ready']);
  t.deepEqual(diff([want('s1', 'ready')], [have('s1', 1)]).differences[0]!.commands, ['set server webapp/s1 state ready']);
  t.deepEqual(diff([want('s1', 'ready')], [have('s1', 4)]).differences, [], 'CMAINT alone is in rotation');
});

test('servers the worker has and no pool wants go to maintenance; wanted ones it lacks are missing', (t) => {
  const d = diff([want('s1', 'ready')], [have('s1', 0), have('s2', 0), have('s3', 1)]);
  t.deepEqual(d.differences.map((x) => x.commands).flat(), ['set server webapp/s2 state maint']);
  t.deepEqual(diff([want('s9', 'ready')], []).missing.map((x) => x.server), ['s9']);
});

test('IPv6 spellings compare equal, IPv4-mapped ones as HAProxy prints them included', (t) => {
  t.is(canonicalIp('FD00:0:0::0012'), 'fd00::12');
  t.is(canonicalIp('10.0.0.1'), '10.0.0.1');
  t.deepEqual(diff([want('s1', 'ready', 'FD00::12')], [have('s1', 0, 'fd00::12')]).differences, []);
  t.deepEqual(diff([want('s1', 'ready', '::FFFF:127.0.0.1')], [have('s1', 0, '::ffff:127.0.0.1')]).differences, []);
});

test('answers: empty or a notice is success; anything else is a refusal', (t) => {
  t.false(refusedAnswer(''));
  t.false(refusedAnswer("IP changed from '127.0.0.1' to '::1', no need to change the port by 'stats socket command'"));
  t.false(refusedAnswer("no need to change the addr, port changed from '1' to '3000' by 'stats socket command'"));
  t.true(refusedAnswer("Invalid addr 'fe80::1%lo' by 'stats socket command'"));
  t.false(refusedAnswer('nothing changed\n'), 'HAProxy 3.0: the address and port were already so');
  t.true(refusedAnswer('No such server.'));
});

test('fingerprints change with what HAProxy is asked for, and only with that', (t) => {
  t.is(fingerprint(want('s1', 'ready')), fingerprint(want('s1', 'ready')));
  t.not(fingerprint(want('s1', 'ready')), fingerprint(want('s1', 'drain')));
  t.not(fingerprint(want('s1', 'ready', '10.0.0.1', 3000, 1)), fingerprint(want('s1', 'ready')));
  t.is(fingerprint(want('s1', 'maint')), 'maint');
});

test('show servers state, show stat and get var are parsed as HAProxy 2.6 prints them', (t) => {
  const state = ['1', '# be_id be_name srv_id ...', '3 webapp 1 s1 127.0.0.1 2 4 1 1 64 15 3 2 6 0 0 0 - 19003 - 0 0 - - 0', '3 webapp 2 s2 ::1 0 5 7 1 1 1 0 0 14 0 0 0 - 1 - 0 0 - - 0', ''].join('\n');
  t.deepEqual(parseServersState(state), [
    { backend: 'webapp', server: 's1', id: 1, address: '127.0.0.1', admin: 4, weight: 1, port: 19003 },
    { backend: 'webapp', server: 's2', id: 2, address: '::1', admin: 5, weight: 7, port: 1 },
  ]);
  const stat = '# pxname,svname,qcur,qmax,scur,smax\nwebapp,s1,1,0,2,0\nwebapp,BACKEND,0,0,9,0\n';
  t.deepEqual([...parseStatSessions(stat)], [['webapp/s1', 3]]);
  t.is(parseVar('proc.leasehold_structure: type=str value=<abc123>'), 'abc123');
  t.is(parseVar('Variable not found.'), undefined);
});

test('show stat: the address each server uses now, IPv4 and IPv6', (t) => {
  // HAProxy 2.6's columns, cut to these (the real header has ~100).
  const text = '# pxname,svname,status,addr,cookie\nb,s1,MAINT,10.0.0.5:3001,\nb,s2,UP,[2001:db8::5]:3002,\nb,BACKEND,UP,,\n';
  t.deepEqual([...parseStatAddresses(text)], [['b/s1', { address: '10.0.0.5', port: 3001 }], ['b/s2', { address: '2001:db8::5', port: 3002 }]]);
  t.is(parseStatAddresses('# pxname,svname,scur\nb,s1,0\n').size, 0, 'no addr column: nothing known');
});

test('an interactive session splits into one answer per command', (t) => {
  const out = '\n> 1\n# be_id\n3 webapp 1 s1\n\n> \n> No such server.\n\n> ';
  t.deepEqual(splitAnswers(out, 3), ['1\n# be_id\n3 webapp 1 s1', '', 'No such server.']);
  t.is(splitAnswers('\n> \n', 3), undefined, 'cut short');
});
