import test from 'ava';
import type { DesiredServer } from '../../renderer/diff.js';
import { carryServerState } from '../../renderer/server-state.js';

// As HAProxy 2.6 prints it: version, header, then one line per server (srv_port is field 19).
const dump = [
  '1',
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port',
  '3 webapp 1 s1 172.20.0.3 2 0 100 100 12 6 3 4 6 0 0 0 - 3000 - 0 0 - - 0',
  '3 webapp 2 s2 172.20.0.4 0 1 100 100 3 8 2 0 6 0 0 0 - 3000 - 0 0 - - 0',
  '3 webapp 3 s3 172.20.0.5 2 0 100 100 12 6 3 4 6 0 0 0 - 3000 - 0 0 - - 0',
  '3 webapp 4 s4 172.20.0.6 2 0 100 100 12 6 3 4 6 0 0 0 - 3000 - 0 0 - - 0',
  '',
].join('\n');

const up = (server: string, address: string, port = 3000, admin: 'ready' | 'drain' = 'ready', weight = 100): DesiredServer => ({ backend: 'webapp', server, admin, node: server, address, port, weight });

test('carries the health of servers that keep their node, drops the rest', (t) => {
  const out = carryServerState(dump, [up('s1', '172.20.0.3'), up('s2', '172.20.0.4'), up('s4', '172.20.0.6', 3001), { backend: 'webapp', server: 's3', admin: 'maint' }]);
  const lines = out.trim().split('\n');
  t.is(lines[0], '1');
  t.true(lines[1]!.startsWith('# be_id'));
  t.deepEqual(lines.slice(2).map((l) => l.split(' ')[3]), ['s1', 's2']);
  t.is(lines[3]!.split(' ')[5], '0', 's2 stays marked down');
});

test('admin state and weight are written as desired, never copied: a stray MAINT does not outlive a reload', (t) => {
  const out = carryServerState(dump, [up('s2', '172.20.0.4', 3000, 'ready', 7), up('s1', '172.20.0.3', 3000, 'drain')]);
  const s2 = out.split('\n').find((l) => l.includes(' s2 '))!.split(' ');
  t.is(s2[6], '0', 'not in maintenance');
  t.is(s2[7], '7');
  t.is(out.split('\n').find((l) => l.includes(' s1 '))!.split(' ')[6], '8', 'drain');
});

test('an empty dump gives an empty file', (t) => {
  t.is(carryServerState('', [up('s1', '172.20.0.3')]), '\n');
});
