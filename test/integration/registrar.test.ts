import { createServer } from 'node:http';
import test from 'ava';
import { parseRecord } from '../../common/record.js';
import { TestEtcd } from '../../harness/etcd.js';
import { freePort } from '../../harness/ports.js';
import { REGISTRAR_MAIN, node } from '../../harness/process.js';
import { TcpProxy } from '../helpers/tcp-proxy.js';
import { TlsEtcd } from '../helpers/tls-etcd.js';
import { sleep, waitFor } from '../../harness/wait.js';

/**
 * A stand-in app whose health the test switches; the registrar polls it over real HTTP. A request
 * that arrives before `stalledUntil` (performance.now() ms) is answered then, as by an app whose
 * event loop stalls; `answers` keeps when each answer went out, and its status.
 */
async function fakeApp(healthy: boolean) {
  const port = await freePort();
  const app = { port, healthy, stalledUntil: 0, answers: [] as { at: number; status: number }[], close: () => new Promise<void>((r) => server.close(() => r())) };
  const server = createServer((_req, res) => {
    const answer = () => {
      const status = app.healthy ? 200 : 503;
      app.answers.push({ at: performance.now(), status });
      res.writeHead(status).end();
    };
    const stall = app.stalledUntil - performance.now();
    if (stall > 0) setTimeout(answer, stall);
    else answer();
  }).listen(port, '127.0.0.1');
  return app;
}

/** A registrar's environment for TlsEtcd: its client certificate, and the user that may write `/nodes/webapp/`. */
function tlsEnv(etcd: TlsEtcd, appPort: number, service: string): Record<string, string> {
  return {
    ETCD_ENDPOINTS: etcd.endpoint,
    ETCD_CA: etcd.certs.ca,
    ETCD_CERT: etcd.certs.clientCert,
    ETCD_KEY: etcd.certs.clientKey,
    ETCD_USERNAME: TlsEtcd.USER,
    ETCD_PASSWORD: TlsEtcd.PASSWORD,
    SERVICE: service,
    PORT: String(appPort),
    NODE_ID: 'node-1',
    ADVERTISE_ADDRESS: '127.0.0.1',
    REGISTRAR_HEALTH_PORT: '0',
    LEASE_TTL: '2',
  };
}

async function setup(t: import('ava').ExecutionContext, healthy = true, endpoints?: (etcd: TestEtcd) => Promise<string>, env: Record<string, string> = {}) {
  const etcd = await TestEtcd.start();
  const app = await fakeApp(healthy);
  const registrar = node('registrar', REGISTRAR_MAIN, {
    ETCD_ENDPOINTS: endpoints ? await endpoints(etcd) : etcd.endpoint,
    PORT: String(app.port),
    NODE_ID: 'node-1',
    ADVERTISE_ADDRESS: '127.0.0.1',
    REGISTRAR_HEALTH_PORT: '0',
    LEASE_TTL: '2',
    CHECK_INTERVAL_MS: '200',
    ...env,
  });
  t.teardown(async () => {
    await registrar.stop();
    await app.close();
    await etcd.stop();
  });
  const key = '/nodes/webapp/node-1';
  const value = () => etcd.client.get(key).string();
  /** The lease the key is attached to, as etcd reports it ('0' for none). */
  const lease = async () => String((await etcd.client.get(key).exec()).kvs[0]?.lease ?? 'no key');
  const registrations = () => registrar.events().filter((e) => e.event === 'state' && e.state === 'registered').length;
  return { etcd, app, registrar, key, value, lease, registrations };
}

test.serial('registers a valid record on its own lease, kept alive past the TTL', async (t) => {
  const { etcd, registrar, key, value } = await setup(t);
  const v = await waitFor(value, 'record in etcd');
  const read = parseRecord('/nodes/', key, v);
  t.like(read.ok && read.record, { id: 'node-1', service: 'webapp', address: '127.0.0.1', state: 'up', weight: 100 });
  const kv = (await etcd.client.get(key).exec()).kvs[0]!;
  t.not(String(kv.lease), '0', 'the key is attached to a lease');
  const ttl = await etcd.client.leaseClient.leaseTimeToLive({ ID: kv.lease });
  t.true(Number(ttl.grantedTTL) === 2, `granted TTL ${ttl.grantedTTL}`);
  await sleep(5000); // more than two TTLs: only keepalives keep it here
  t.truthy(await value(), 'still registered after 2.5 TTLs');
  t.truthy(registrar.events().find((e) => e.event === 'state' && e.state === 'registered'));
});

test.serial('SIGTERM revokes the lease: the key is gone long before its 10 s TTL could expire it, and it exits 0', async (t) => {
  // A 10 s lease renewed every ~3.3 s cannot expire sooner than ~6.7 s after SIGTERM: a key gone
  // within 5 s was revoked, however loaded the machine (it takes tens of ms when quiet).
  const { registrar, value } = await setup(t, true, undefined, { LEASE_TTL: '10' });
  await waitFor(value, 'record in etcd');
  const sent = Date.now();
  registrar.signal('SIGTERM');
  await waitFor(async () => (await value()) === null, 'key removed', 5000, 10);
  t.log(`key gone ${Date.now() - sent} ms after SIGTERM`);
  t.false(registrar.events().some((e) => e.event === 'revoke-failed'), 'no revoke failed');
  t.is(await registrar.exited, 0);
});

test.serial('etcd restarted on the same data dir: still registered on the same lease, never re-registered', async (t) => {
  const { etcd, registrar, value, lease, registrations } = await setup(t);
  await waitFor(value, 'record in etcd');
  const before = await lease();
  await etcd.pause();
  await sleep(1000);
  await etcd.resume();
  // Keepalives failed meanwhile; the first that etcd answers after the restart renews the same lease.
  await registrar.waitForEvent((e) => e.event === 'keepalive-failed', 'a keepalive that failed while etcd was down');
  const failed = registrar.events().filter((e) => e.event === 'keepalive-failed').length;
  await sleep(5000); // well past the TTL (2 s): a lease that was not renewed would be gone
  t.is(await lease(), before, 'the key is on the lease it had before the restart');
  t.is(registrations(), 1, 'no second registration');
  t.is(registrar.events().filter((e) => e.event === 'keepalive-failed').length, failed, 'keepalives answered again after the restart');
});

test.serial('etcd restarted empty: registers again within a few seconds', async (t) => {
  const { etcd, registrar, value } = await setup(t);
  await waitFor(value, 'record in etcd');
  await etcd.pause();
  etcd.wipe();
  await etcd.resume();
  const back = Date.now();
  t.truthy(await waitFor(value, 'record re-put into the empty etcd', 10000));
  t.log(`re-registered ${Date.now() - back} ms after etcd came back empty`);
  // The record can be read in etcd before the registrar's line saying so reaches us.
  const states = () => registrar.events().filter((e) => e.event === 'state').map((e) => e.state);
  await waitFor(() => states().filter((s) => s === 'registered').length >= 2, 'the registrar saying it registered again', 10000).catch(() => undefined);
  t.true(states().filter((s) => s === 'registered').length >= 2, states().join(','));
});

test.serial('app unhealthy: deregistered; healthy again: registered again', async (t) => {
  const { app, registrar, value } = await setup(t);
  await waitFor(value, 'record in etcd');
  app.healthy = false;
  await waitFor(async () => (await value()) === null, 'key removed while unhealthy', 5000);
  await registrar.waitForEvent((e) => e.state === 'deregistered', 'deregistered event');
  app.healthy = true;
  t.truthy(await waitFor(value, 'record back once healthy', 5000));
});

test.serial('an app that stalls 2.5 s keeps its record: the checks it misses are fewer than CHECK_FALL', async (t) => {
  // Timeout 1.2 s, interval 200 ms, fall 3 (the default): two checks at most fail in a 2.5 s stall.
  // Before CHECK_FALL, the first check that got no answer within 200 ms removed the record.
  const { app, registrar, value, lease } = await setup(t, true, undefined, { CHECK_TIMEOUT_MS: '1200' });
  await waitFor(value, 'record in etcd');
  const before = await lease();
  app.stalledUntil = performance.now() + 2500;
  const seen: string[] = [];
  // Bounded by waitFor's deadline: until the app has answered three checks after the stall.
  await waitFor(async () => {
    seen.push((await value()) === null ? 'missing' : 'present');
    return app.answers.filter((a) => a.at > app.stalledUntil + 50).length >= 3;
  }, 'three checks answered after the stall', 15000, 50);
  t.false(seen.includes('missing'), `the record was missing at ${seen.filter((s) => s === 'missing').length} of ${seen.length} looks`);
  t.is(await lease(), before, 'the same lease throughout');
  const checks = registrar.events().filter((e) => e.event === 'check');
  t.true(checks.some((e) => !e.passed && e.timedOut), 'a check got no answer in time: the stall was seen');
  t.false(registrar.events().some((e) => e.event === 'state' && e.state === 'deregistered'), 'never deregistered');
});

test.serial('an app that keeps failing leaves after CHECK_FALL checks, about FALL × INTERVAL after its first failed one', async (t) => {
  const { app, registrar, value } = await setup(t, true, undefined, { CHECK_INTERVAL_MS: '500' });
  await waitFor(value, 'record in etcd');
  app.healthy = false;
  await waitFor(async () => (await value()) === null, 'key removed', 10000, 10);
  const gone = performance.now();
  const firstFailed = app.answers.find((a) => a.status === 503)!.at;
  t.log(`record gone ${Math.round(gone - firstFailed)} ms after the first failed check`);
  // The 3rd check starts 2 intervals after the 1st: less a margin for the 1st answer's own delay.
  t.true(gone - firstFailed >= 2 * 500 - 300, `not before the 3rd failed check (${Math.round(gone - firstFailed)} ms)`);
  t.true(gone - firstFailed <= 3 * 500 + 3000, 'and not much after it');
  const failed = registrar.events().filter((e) => e.event === 'check' && !e.passed).map((e) => e.inRow);
  t.deepEqual(failed.slice(0, 3), [1, 2, 3]);
});

test.serial('waits for the app to answer before registering', async (t) => {
  const { app, registrar, value } = await setup(t, false);
  await registrar.waitForEvent((e) => e.event === 'start', 'registrar started');
  await sleep(1500);
  t.is(await value(), null, 'nothing registered while the app is not healthy');
  app.healthy = true;
  t.truthy(await waitFor(value, 'registered once the app answers', 5000));
});

test.serial('several endpoints: a dead one is skipped, and cutting the one in use moves the keepalives to the next on the same lease', async (t) => {
  const proxies: TcpProxy[] = [];
  const { registrar, value, lease, registrations } = await setup(t, true, async (etcd) => {
    proxies.push(await TcpProxy.start(etcd.clientPort), await TcpProxy.start(etcd.clientPort));
    return [`http://127.0.0.1:${await freePort()}`, ...proxies.map((p) => p.url)].join(',');
  });
  t.teardown(() => Promise.all(proxies.map((p) => p.cut())));
  const [a, b] = proxies as [TcpProxy, TcpProxy];
  await waitFor(value, 'record in etcd, through the second endpoint');
  const first = await lease();
  t.true(a.connections > 0, 'the second endpoint carried the registration');
  t.is(b.connections, 0);
  await a.cut();
  await waitFor(() => b.connections > 0, 'calls moving to the third endpoint', 5000);
  await sleep(3000); // past the TTL: the lease lives on keepalives through the third endpoint
  t.is(await lease(), first);
  t.is(registrations(), 1);
  t.false(registrar.events().some((e) => e.event === 'keepalive-failed'), 'failover happened within each call');
});

test.serial('TLS with a client certificate and etcd auth: registers under its role, and its role cannot register another service', async (t) => {
  const etcd = await TlsEtcd.start();
  const app = await fakeApp(true);
  const webapp = node('registrar webapp', REGISTRAR_MAIN, tlsEnv(etcd, app.port, 'webapp'));
  const api = node('registrar api', REGISTRAR_MAIN, tlsEnv(etcd, app.port, 'api'));
  t.teardown(async () => {
    await Promise.all([webapp.stop(), api.stop()]);
    await app.close();
    await etcd.stop();
  });
  await webapp.waitForEvent((e) => e.state === 'registered', 'registered over TLS with auth');
  const stored = etcd.read('/nodes/webapp/node-1');
  t.like(JSON.parse(stored!.value), { id: 'node-1', service: 'webapp', address: '127.0.0.1' });
  t.not(stored!.lease, '0');
  const denied = await api.waitForEvent((e) => e.event === 'retry', 'the api registrar refused');
  t.false(denied.retryable);
  t.regex(denied.err.message, /permission denied/);
  t.is(etcd.read('/nodes/api/node-1'), undefined);
  webapp.signal('SIGTERM');
  t.is(await webapp.exited, 0);
  t.is(etcd.read('/nodes/webapp/node-1'), undefined, 'revoked on SIGTERM');
});

test.serial('TLS and auth: a lease someone attached a key to while the app started (our put on it is denied) is replaced: registered on a new lease', async (t) => {
  const etcd = await TlsEtcd.start();
  const app = await fakeApp(false);
  // A lease of 60 s: before, the refused lease was tried again until it was TTL/2 old (30 s).
  const registrar = node('registrar webapp', REGISTRAR_MAIN, { ...tlsEnv(etcd, app.port, 'webapp'), LEASE_TTL: '60' });
  t.teardown(async () => {
    await registrar.stop();
    await app.close();
    await etcd.stop();
  });
  // The warm-up lease, taken while the app does not answer yet: the only lease in this etcd.
  const warm = await waitFor(() => /^[0-9a-f]+$/m.exec(etcd.etcdctl('lease', 'list'))?.[0], 'the warm-up lease', 10000, 100);
  // Another service's key on it (root does it here; any user could, on a lease carrying no key).
  etcd.etcdctl('put', '/nodes/api/intruder', 'x', `--lease=${warm}`);
  app.healthy = true;
  const answered = performance.now();
  await registrar.waitForEvent((e) => e.state === 'registered', 'registered despite the refused lease', 10000);
  t.log(`registered ${Math.round(performance.now() - answered)} ms after the app answered`);
  const stored = etcd.read('/nodes/webapp/node-1');
  t.truthy(stored);
  t.not(stored!.lease, BigInt(`0x${warm}`).toString(), 'on a new lease');
  const refused = registrar.events().find((e) => e.event === 'retry');
  t.like(refused, { retryable: true });
  t.is(refused!.err.type, 'LeaseRefusedError');
});
