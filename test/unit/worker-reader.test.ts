import test from 'ava';
import { RuntimeError } from '../../common/errors.js';
import type { DesiredServer } from '../../renderer/diff.js';
import { EMPTY_WORKER } from '../../renderer/observe.js';
import { STRUCTURE_VAR } from '../../renderer/runtime-state.js';
import type { Pool } from '../../renderer/slots.js';
import { WorkerReader } from '../../renderer/worker-reader.js';

// A worker of two servers, as HAProxy prints it; webapp/s2 is what a leaving slot would be.
const HEADER = '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port';
const line = (id: number, name: string, address: string, admin = 0) => `3 webapp ${id} ${name} ${address} 2 ${admin} 100 100 5 6 3 4 6 0 0 0 - 3000 - 0 0 - - 0`;

/** A runtime channel that answers from a script and records every command. */
function runtime(o: { state?: () => string; fail?: () => Error | undefined } = {}) {
  const sent: string[][] = [];
  let table = ['1', HEADER, line(1, 's1', '10.0.0.1'), line(7, 's2', '10.0.0.2', 1)].join('\n');
  return {
    sent,
    set table(t: string) {
      table = t;
    },
    async run(commands: string[]): Promise<string[]> {
      sent.push(commands);
      const err = o.fail?.();
      if (err) throw err;
      return commands.map((c) => {
        if (c === 'show servers state') return o.state?.() ?? table;
        if (c === `get var ${STRUCTURE_VAR}`) return `${STRUCTURE_VAR}: type=str value=<abc>`;
        if (c.startsWith('show stat webapp 4 ')) return '# pxname,svname,qcur,scur,addr,status,uweight\nwebapp,s2,0,3,10.0.0.2:3000,MAINT,100';
        return `unexpected ${c}`;
      });
    },
  };
}

const master = { showProc: async () => ({ masterPid: 1, reloads: 0, failed: 0, workers: [] }) };
const noPools = () => [] as Pool[];
const leavingS2 = (): Pool[] => [{ service: 'webapp', slots: [{ name: 's1', state: 'ready' }, { name: 's2', state: 'leaving', leavingSince: 0 }] }];

test('the first read is whole; then the last read stands with nothing sent, until a whole read is asked for', async (t) => {
  const rt = runtime();
  const r = new WorkerReader(rt, master, noPools);
  t.true(r.wantsWhole);
  const first = await r.read();
  t.true(first.ok);
  if (!first.ok) return;
  t.deepEqual(rt.sent, [['show servers state', `get var ${STRUCTURE_VAR}`]]);
  t.is(first.actual.structureId, 'abc');
  t.deepEqual(first.actual.servers.map((s) => `${s.server}=${s.address}`), ['s1=10.0.0.1', 's2=10.0.0.2']);
  t.false(r.wantsWhole);
  const second = await r.read();
  t.is(rt.sent.length, 1, 'no command: nothing changes HAProxy but our own, verified, commands');
  t.is(second.ok && second.actual, first.actual);
  r.readWhole();
  t.true(r.wantsWhole);
  await r.read();
  t.is(rt.sent.length, 2);
  t.false(r.wantsWhole);
});

test('a leaving slot is asked about by its server id, one line, and the rest of the last read stands', async (t) => {
  const rt = runtime();
  const r = new WorkerReader(rt, master, leavingS2);
  const first = await r.read();
  t.deepEqual(rt.sent[0], ['show servers state', `get var ${STRUCTURE_VAR}`, 'show stat webapp 4 -1'], 'no id known before the first read: the backend');
  const next = await r.read();
  t.deepEqual(rt.sent[1], ['show stat webapp 4 7'], 'the id from the last read: one line');
  t.true(next.ok && first.ok);
  if (!next.ok || !first.ok) return;
  t.is(next.actual.sessions.get('webapp/s2'), 3);
  t.is(next.actual.servers, first.actual.servers);
  t.is(r.last, first.actual, 'a partial read does not replace the last whole one');
});

test('HAProxy unreachable: the error is returned, and the next read is whole again', async (t) => {
  let failing = false;
  const err = new RuntimeError('runtime API unreachable', { cause: Object.assign(new Error('gone'), { code: 'ECONNRESET' }) });
  const rt = runtime({ fail: () => (failing ? err : undefined) });
  const r = new WorkerReader(rt, master, noPools);
  await r.read();
  r.readWhole();
  failing = true;
  const out = await r.read();
  t.false(out.ok);
  t.is(!out.ok && out.error, err);
  t.true(r.wantsWhole);
  failing = false;
  await r.read();
  t.deepEqual(rt.sent.at(-1), ['show servers state', `get var ${STRUCTURE_VAR}`]);
});

test('no admin socket before any answer, with a live master, is a bootstrap config: an empty worker; after an answer it is HAProxy unreachable', async (t) => {
  let failing = true;
  const enoent = () => new RuntimeError('no socket', { cause: Object.assign(new Error('no such file'), { code: 'ENOENT' }) });
  const r = new WorkerReader(runtime({ fail: () => (failing ? enoent() : undefined) }), master, noPools);
  const boot = await r.read();
  t.true(boot.ok);
  t.is(boot.ok && boot.actual, EMPTY_WORKER);
  const dead = new WorkerReader(runtime({ fail: enoent }), { showProc: async () => Promise.reject(new Error('master gone')) }, noPools);
  t.false((await dead.read()).ok, 'no master either: unreachable');
  failing = false;
  t.true((await r.read(true)).ok);
  failing = true;
  t.false((await r.read(true)).ok, 'the socket answered once: its absence now is trouble');
});

test('the state carried on reads the table afresh as text only, and takes the desired servers as they are after the read', async (t) => {
  let desiredAt = '';
  let table = ['1', HEADER, line(1, 's1', '10.0.0.1')].join('\n');
  const rt = runtime({ state: () => ((desiredAt = 'read'), table) });
  const r = new WorkerReader(rt, master, noPools);
  const first = await r.read();
  if (!first.ok) return t.fail();
  desiredAt = 'before';
  const desired = (): DesiredServer[] => (t.is(desiredAt, 'read', 'asked after the read'), [{ backend: 'webapp', server: 's1', admin: 'ready', address: '10.0.0.1', port: 3000, weight: 9 }]);
  table = ['1', HEADER, line(1, 's1', '10.0.0.1', 0).replace(' 2 0 100 100 ', ' 0 0 100 100 ')].join('\n');
  const out = await r.serverState(first.actual, desired);
  t.deepEqual(rt.sent.at(-1), ['show servers state'], 'no structure variable, no parse of what is not used');
  const s1 = out.split('\n').find((l) => l.includes(' s1 '))!.split(' ');
  t.is(s1[5], '0', 'the health as HAProxy has it now (down), not as first read');
  t.is(s1[7], '9', 'the weight as desired');
});

test('the state carried on falls back to the last read when HAProxy does not answer, and is empty of servers for an empty worker', async (t) => {
  let failing = false;
  const rt = runtime({ fail: () => (failing ? new RuntimeError('gone') : undefined) });
  const r = new WorkerReader(rt, master, noPools);
  const first = await r.read();
  if (!first.ok) return t.fail();
  failing = true;
  const desired = (): DesiredServer[] => [{ backend: 'webapp', server: 's1', admin: 'ready', address: '10.0.0.1', port: 3000, weight: 100 }];
  const out = await r.serverState(first.actual, desired);
  t.true(out.includes(' s1 10.0.0.1 '), 'from the last read');
  const sent = rt.sent.length;
  t.is((await r.serverState(EMPTY_WORKER, desired)).trim(), '', 'nothing to carry from a worker without our config');
  t.is(rt.sent.length, sent, 'and nothing asked of it');
});
