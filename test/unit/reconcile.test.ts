import test from 'ava';
import { type DesiredServer, diff, fingerprint, refusedAnswer } from '../../renderer/reconcile.js';
import { splitAnswers } from '../../renderer/runtime.js';
import { canonicalIp, parseServersState, parseStatSessions, parseVar } from '../../renderer/runtime-state.js';
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

test('an interactive session splits into one answer per command', (t) => {
  const out = '\n> 1\n# be_id\n3 webapp 1 s1\n\n> \n> No such server.\n\n> ';
  t.deepEqual(splitAnswers(out, 3), ['1\n# be_id\n3 webapp 1 s1', '', 'No such server.']);
  t.is(splitAnswers('\n> \n', 3), undefined, 'cut short');
});
