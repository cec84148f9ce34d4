import test from 'ava';
import type { NodeRecord } from '../../common/record.js';
import { carryServerState } from '../../renderer/server-state.js';

// As HAProxy 2.6 prints it: version, header, then one line per server (srv_port is field 19).
const dump = [
  '1',
  '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port',
  '3 webapp 1 a1 172.20.0.3 2 0 100 100 12 6 3 4 6 0 0 0 - 3000 - 0 0 - - 0',
  '3 webapp 2 b2 172.20.0.4 0 0 100 100 3 8 2 0 6 0 0 0 - 3000 - 0 0 - - 0',
  '3 webapp 3 c3 172.20.0.5 2 0 100 100 12 6 3 4 6 0 0 0 - 3000 - 0 0 - - 0',
  '3 webapp 4 moved 172.20.0.6 2 0 100 100 12 6 3 4 6 0 0 0 - 3000 - 0 0 - - 0',
  '',
].join('\n');

const rec = (id: string, address: string, port = 3000): NodeRecord => ({ id, service: 'webapp', address, port, tag: id, weight: 100, state: 'up', registeredAt: '2026-01-01T00:00:00Z' });

test('keeps the state of servers that stay, drops those that leave or move', (t) => {
  const out = carryServerState(dump, [rec('a1', '172.20.0.3'), rec('b2', '172.20.0.4'), rec('moved', '172.20.0.6', 3001), rec('new', '172.20.0.9')]);
  const lines = out.trim().split('\n');
  t.is(lines[0], '1');
  t.true(lines[1]!.startsWith('# be_id'));
  t.deepEqual(lines.slice(2).map((l) => l.split(' ')[3]), ['a1', 'b2']);
  t.is(lines[3]!.split(' ')[5], '0', 'b2 stays marked down');
});

test('an empty or failed dump gives a file HAProxy accepts', (t) => {
  t.is(carryServerState('', [rec('a1', '172.20.0.3')]), '\n');
  t.is(carryServerState('1\n# be_id be_name\n', []), '1\n# be_id be_name\n');
});
