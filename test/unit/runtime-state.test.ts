import test from 'ava';
import { parseServersState, parseStatAddresses, parseStatServers, parseStatSessions, parseVar } from '../../renderer/runtime-state.js';

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

test('show servers state, show stat and get var are parsed as HAProxy 2.6 prints them', (t) => {
  const state = ['1', '# be_id be_name srv_id ...', '3 webapp 1 s1 127.0.0.1 2 4 1 1 64 15 3 2 6 0 0 0 - 19003 - 0 0 - - 0', '3 webapp 2 s2 ::1 0 5 7 1 1 1 0 0 14 0 0 0 - 1 - 0 0 - - 0', ''].join('\n');
  t.deepEqual(parseServersState(state), [
    { backend: 'webapp', server: 's1', id: 1, address: '127.0.0.1', admin: 4, weight: 1, port: 19003 },
    { backend: 'webapp', server: 's2', id: 2, address: '::1', admin: 5, weight: 7, port: 1 },
  ]);
  // The live page's backend is the LB's own: never a slot, so never put in maintenance.
  const page = '4 leasehold:page 1 renderer 127.0.0.1 2 0 1 1 64 15 3 2 6 0 0 0 - 8405 - 0 0 - - 0';
  t.deepEqual(parseServersState(`${state}${page}\n`), parseServersState(state));
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
