import test from 'ava';
import { FIXTURE_RULES } from '../helpers/fixtures.js';
import { EtcdRefusedError, EtcdUnavailableError, LeaseNotFoundError, LeaseholdError, OptionError } from '../../common/errors.js';
import { createLineLog } from '../../common/line-log.js';
import { Backoff, isRetryable } from '../../registrar/backoff.js';
import { etcdOptionsFromEnv } from '../../common/etcd.js';
import { parseShowProc } from '../../renderer/haproxy.js';
import { rendererOptionsFromEnv } from '../../renderer/options.js';
import { Snapshot } from '../../renderer/status-snapshot.js';
import { NodeView } from '../../renderer/node-view.js';
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
  t.like(o, { prefix: '/nodes/', service: 'webapp', nodeId: 'host-1', port: 3000, tag: 'host-1', weight: 100, ttlSeconds: 5, healthUrl: 'http://127.0.0.1:3000/health', checkIntervalMs: 1000, checkTimeoutMs: 2000, checkFall: 3, checkRise: 2, waitCheckIntervalMs: 25, healthPort: 3001, logLevel: 'info' });
  t.deepEqual(o.etcd, { endpoints: ['http://127.0.0.1:2379'], callTimeoutMs: 2000, dialTimeoutMs: 2000 }, 'no TLS, no auth');
});

test('registrar options refuse what cannot be registered', (t) => {
  t.throws(() => registrarOptionsFromEnv({ LEASE_TTL: '1' }, 'h'), { instanceOf: OptionError, message: /LEASE_TTL/ });
  t.throws(() => registrarOptionsFromEnv({ NODE_ID: 'bad id' }, 'h'), { instanceOf: OptionError, message: /NODE_ID/ });
  t.throws(() => registrarOptionsFromEnv({ ADVERTISE_ADDRESS: 'web' }, 'h'), { instanceOf: OptionError, message: /ADVERTISE_ADDRESS/ });
  t.throws(() => registrarOptionsFromEnv({ PORT: '70000' }, 'h'), { instanceOf: OptionError, message: /PORT/ });
  t.throws(() => registrarOptionsFromEnv({ WAIT_CHECK_INTERVAL_MS: '0' }, 'h'), { instanceOf: OptionError, message: /WAIT_CHECK_INTERVAL_MS/ });
  for (const name of ['CHECK_TIMEOUT_MS', 'CHECK_FALL', 'CHECK_RISE']) t.throws(() => registrarOptionsFromEnv({ [name]: '0' }, 'h'), { instanceOf: OptionError, message: new RegExp(name) });
  t.throws(() => registrarOptionsFromEnv({ LOG_LEVEL: 'verbose' }, 'h'), { instanceOf: OptionError, message: /LOG_LEVEL/ });
});

test('etcd TLS files and auth are read from ETCD_CA, ETCD_CERT, ETCD_KEY, ETCD_USERNAME, ETCD_PASSWORD', (t) => {
  const o = etcdOptionsFromEnv({
    ETCD_ENDPOINTS: 'https://etcd-1:2379,https://etcd-2:2379',
    ETCD_CA: '/tls/ca.pem',
    ETCD_CERT: '/tls/registrar.pem',
    ETCD_KEY: '/tls/registrar-key.pem',
    ETCD_USERNAME: 'registrar-webapp',
    ETCD_PASSWORD: ' pass with spaces ',
  });
  t.deepEqual(o.tls, { caFile: '/tls/ca.pem', certFile: '/tls/registrar.pem', keyFile: '/tls/registrar-key.pem' });
  t.deepEqual(o.auth, { username: 'registrar-webapp', password: ' pass with spaces ' }, 'a password is taken as is');
  t.deepEqual(etcdOptionsFromEnv({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_CA: '/tls/ca.pem' }).tls, { caFile: '/tls/ca.pem' }, 'server TLS only');
});

test('etcd TLS and auth settings that cannot work are refused at start', (t) => {
  const refused = (env: Record<string, string>, message: RegExp) => t.throws(() => etcdOptionsFromEnv(env), { instanceOf: OptionError, message });
  refused({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_CERT: '/tls/c.pem' }, /ETCD_CERT and ETCD_KEY go together/);
  refused({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_KEY: '/tls/k.pem' }, /ETCD_CERT and ETCD_KEY go together/);
  refused({ ETCD_ENDPOINTS: 'http://etcd:2379', ETCD_CA: '/tls/ca.pem' }, /need an https:\/\/ endpoint/);
  refused({ ETCD_USERNAME: 'registrar-webapp' }, /ETCD_USERNAME is set without ETCD_PASSWORD/);
  refused({ ETCD_PASSWORD: 'x' }, /ETCD_PASSWORD is set without ETCD_USERNAME/);
  refused({ ETCD_ENDPOINTS: 'ftp://etcd:2379' }, /not an http:\/\/ or https:\/\/ URL/);
  refused({ ETCD_ENDPOINTS: 'http://' }, /not an http/);
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
  t.like(rendererOptionsFromEnv({}), { maxNodesPerService: 16384, storeUnsyncedUnhealthyMs: 30000 });
  t.like(rendererOptionsFromEnv({ MAX_SLOTS: '2048' }), { maxNodesPerService: 2048 }, 'the cap follows MAX_SLOTS by default');
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

test('the registrar line log writes pino\'s line shape, errors as {type, message}, below its level nothing', (t) => {
  const lines: string[] = [];
  const log = createLineLog('registrar', 'info', (l) => lines.push(l));
  log.debug({ event: 'x' }, 'hidden');
  log.warn({ event: 'retry', err: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }, 'registration attempt failed');
  t.is(lines.length, 1);
  t.true(lines[0]!.endsWith('\n'));
  const e = JSON.parse(lines[0]!);
  t.deepEqual(Object.keys(e), ['level', 'time', 'name', 'event', 'err', 'msg']);
  t.like(e, { level: 'warn', name: 'registrar', event: 'retry', err: { type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' }, msg: 'registration attempt failed' });
  t.false(Number.isNaN(Date.parse(e.time)));
  createLineLog('registrar', 'silent', (l) => lines.push(l)).fatal({}, 'x');
  t.is(lines.length, 1);
});

test('backoff doubles from 200 ms up to 5 s with jitter in [d/2, d); an error that is not retryable waits the longest', (t) => {
  const retryable = new EtcdUnavailableError('down', 'http://e:2379');
  const low = new Backoff({ random: () => 0 });
  t.deepEqual(Array.from({ length: 7 }, () => low.next(retryable)), [100, 200, 400, 800, 1600, 2500, 2500]);
  const high = new Backoff({ random: () => 0.999999 });
  t.deepEqual(Array.from({ length: 3 }, () => high.next(retryable)), [200, 400, 800]);
  high.reset();
  t.is(high.next(retryable), 200);
  t.is(new Backoff({ random: () => 0 }).next(new EtcdRefusedError('permission denied', 403, 7)), 2500);
  t.is(new Backoff({ random: () => 0 }).next(new TypeError('a bug')), 2500, 'an unknown error is not retryable');
  t.false(isRetryable(new LeaseholdError('x')));
  t.true(isRetryable(new LeaseNotFoundError('1')));
});

test('renderer options: the peer endpoint is by certificate; the old address allowlist is refused with its replacement named', (t) => {
  t.like(rendererOptionsFromEnv({}), { peerPort: 8406, peerCert: undefined, peerName: 'leasehold-renderer-peer', lbPeers: [], lbPeersRefreshMs: 5000 });
  t.like(rendererOptionsFromEnv({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_CA: '/ca.pem', RENDERER_PEER_CERT: '/p.pem', RENDERER_PEER_KEY: '/k.pem', LB_PEERS: 'ha1, tasks.ha' }), { peerCa: '/ca.pem', lbPeers: ['ha1', 'tasks.ha'] });
  t.throws(() => rendererOptionsFromEnv({ RENDERER_HEALTH_PEERS: 'ha1,ha2' }), { instanceOf: OptionError, message: /by certificate.*LB_PEERS/ });
  t.throws(() => rendererOptionsFromEnv({ RENDERER_PEER_CERT: '/p.pem' }), { instanceOf: OptionError, message: /go together/ });
  t.throws(() => rendererOptionsFromEnv({ RENDERER_PEER_CERT: '/p.pem', RENDERER_PEER_KEY: '/k.pem' }), { instanceOf: OptionError, message: /CA/ });
  t.throws(() => rendererOptionsFromEnv({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_CA: '/c', RENDERER_PEER_CERT: '/p', RENDERER_PEER_KEY: '/k', RENDERER_PEER_PORT: '8405' }), { instanceOf: OptionError, message: /differ/ });
});

test('the status snapshot: concurrent and repeated askers within its age share one answer; a failure is not kept', async (t) => {
  let now = 0;
  let taken = 0;
  let fail = false;
  const s = new Snapshot(async () => {
    taken++;
    if (fail) throw new Error('HAProxy away');
    return taken;
  }, 1000, () => now);
  const answers = await Promise.all(Array.from({ length: 2000 }, () => s.get()));
  t.true(answers.every((a) => a === 1));
  now = 999;
  t.is(await s.get(), 1);
  now = 1000;
  fail = true;
  await t.throwsAsync(s.get(), { message: 'HAProxy away' });
  fail = false;
  t.is(await s.get(), 3, 'the failed answer was not kept');
  t.is(taken, 3);
});

test('the status snapshot: an answer still being taken is shared, however long it takes (no show stat queued behind it)', async (t) => {
  let takes = 0;
  let now = 0;
  let settle!: (n: number) => void;
  const s = new Snapshot(() => (takes++, new Promise<number>((r) => (settle = r))), 1000, () => now);
  for (let i = 0; i < 30; i++) {
    void s.get();
    now += 1000;
  }
  t.is(takes, 1);
  settle(1);
  t.is(await s.get(), 1, 'fresh from when it settled');
  now += 1000;
  void s.get();
  t.is(takes, 2);
});
