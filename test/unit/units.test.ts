import test from 'ava';
import { FIXTURE_RULES } from '../helpers/fixtures.js';
import { OptionError } from '../../common/errors.js';
import { etcdOptionsFromEnv } from '../../common/etcd.js';
import { parseShowProc } from '../../renderer/haproxy.js';
import { rendererOptionsFromEnv } from '../../renderer/options.js';
import { NodeView } from '../../renderer/view.js';
import { registrarOptionsFromEnv } from '../../registrar/options.js';

test('show proc output is parsed: reloads, failures, workers', (t) => {
  const text = [
    '#<PID>          <type>          <reloads>       <uptime>        <version>      ',
    '10091           master          2 [failed: 1]   0d00h00m02s     2.6.12-1+deb12u4',
    '# workers',
    '10120           worker          0               0d00h00m00s     2.6.12-1+deb12u4',
    '10103           worker          1               0d00h00m01s     2.6.12-1+deb12u4',
    '# programs',
    '',
  ].join('\n');
  t.deepEqual(parseShowProc(text), { masterPid: 10091, reloads: 2, failed: 1, workers: [{ pid: 10120, reloads: 0 }, { pid: 10103, reloads: 1 }] });
  t.throws(() => parseShowProc('Unknown command'), { name: 'ReloadError' });
});

test('registrar options have documented defaults', (t) => {
  const o = registrarOptionsFromEnv({}, 'host-1');
  t.is(o.address, undefined, 'looked up at each registration');
  t.like(o, { prefix: '/nodes/', service: 'webapp', nodeId: 'host-1', port: 3000, tag: 'host-1', weight: 100, ttlSeconds: 5, healthUrl: 'http://127.0.0.1:3000/health', checkIntervalMs: 1000, healthPort: 3001 });
  t.deepEqual(o.etcd.endpoints, ['http://127.0.0.1:2379']);
});

test('registrar options refuse what cannot be registered', (t) => {
  t.throws(() => registrarOptionsFromEnv({ LEASE_TTL: '1' }, 'h'), { instanceOf: OptionError, message: /LEASE_TTL/ });
  t.throws(() => registrarOptionsFromEnv({ NODE_ID: 'bad id' }, 'h'), { instanceOf: OptionError, message: /NODE_ID/ });
  t.throws(() => registrarOptionsFromEnv({ ADVERTISE_ADDRESS: 'web' }, 'h'), { instanceOf: OptionError, message: /ADVERTISE_ADDRESS/ });
  t.throws(() => registrarOptionsFromEnv({ PORT: '70000' }, 'h'), { instanceOf: OptionError, message: /PORT/ });
});

test('renderer options have documented defaults and refuse config text', (t) => {
  t.like(rendererOptionsFromEnv({}), {
    configPath: '/etc/haproxy/haproxy.cfg', frontendBind: '*:80', statsBind: '*:1936', coalesceMinMs: 5, coalesceMaxMs: 200, resyncIntervalMs: 30000,
    reconcileIntervalMs: 5000, minSlots: 16, shrinkAfterMs: 300000, leaveMaxMs: 60000, mirrorDelayMs: 1000, hardStopAfter: '5m', connectTimeout: '100ms', cookieKey: undefined, healthBind: '127.0.0.1',
  });
  t.throws(() => rendererOptionsFromEnv({ FRONTEND_BIND: '*:80\nlisten evil' }), { instanceOf: OptionError });
  t.throws(() => rendererOptionsFromEnv({ COOKIE_KEY: 'short' }), { instanceOf: OptionError, message: /COOKIE_KEY/ });
  t.throws(() => rendererOptionsFromEnv({ COOKIE_KEY: 'a-long-key with-a-space' }), { instanceOf: OptionError, message: /COOKIE_KEY/ });
  t.throws(() => rendererOptionsFromEnv({ HARD_STOP_AFTER: '5m\n  listen x' }), { instanceOf: OptionError, message: /HARD_STOP_AFTER/ });
  t.throws(() => rendererOptionsFromEnv({ COALESCE_MIN_MS: '500', COALESCE_MAX_MS: '100' }), { instanceOf: OptionError });
});

test('etcd endpoints accept host:port and URLs', (t) => {
  t.deepEqual(etcdOptionsFromEnv({ ETCD_ENDPOINTS: 'etcd:2379, https://e2:2379' }).endpoints, ['http://etcd:2379', 'https://e2:2379']);
});

test('the view applies puts and deletes in order', (t) => {
  const v = new NodeView('/nodes/', FIXTURE_RULES);
  const rec = (id: string) => JSON.stringify({ id, service: 'webapp', address: '10.0.0.1', port: 80, tag: id, weight: 1, state: 'up', registeredAt: '2026-01-01T00:00:00Z' });
  v.reset([{ key: '/nodes/webapp/a', value: rec('a') }]);
  v.apply([{ type: 'put', key: '/nodes/webapp/b', value: rec('b') }, { type: 'delete', key: '/nodes/webapp/a' }, { type: 'put', key: '/nodes/webapp/c', value: rec('c') }]);
  t.deepEqual([...v.evaluate().records.values()].map((r) => r.id), ['b', 'c']);
});
