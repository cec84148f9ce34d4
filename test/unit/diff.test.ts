import test from 'ava';
import { type DesiredServer, afterAddress, diff, fingerprint, refusedAnswer, tookAddress } from '../../renderer/diff.js';
import { canonicalIp } from '../../common/address.js';
import type { ActualServer } from '../../renderer/slots.js';

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
