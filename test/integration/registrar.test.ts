import { createServer } from 'node:http';
import test from 'ava';
import { parseRecord } from '../../common/record.js';
import { TestEtcd } from '../helpers/etcd.js';
import { freePort } from '../helpers/ports.js';
import { node } from '../helpers/process.js';
import { sleep, waitFor } from '../helpers/wait.js';

/** A stand-in app whose health the test switches; the registrar polls it over real HTTP. */
async function fakeApp(healthy: boolean) {
  const port = await freePort();
  const app = { port, healthy, close: () => new Promise<void>((r) => server.close(() => r())) };
  const server = createServer((_req, res) => res.writeHead(app.healthy ? 200 : 503).end()).listen(port, '127.0.0.1');
  return app;
}

async function setup(t: import('ava').ExecutionContext, healthy = true) {
  const etcd = await TestEtcd.start();
  const app = await fakeApp(healthy);
  const registrar = node('registrar', 'registrar/main.js', {
    ETCD_ENDPOINTS: etcd.endpoint,
    PORT: String(app.port),
    NODE_ID: 'node-1',
    ADVERTISE_ADDRESS: '127.0.0.1',
    REGISTRAR_HEALTH_PORT: '0',
    LEASE_TTL: '2',
    CHECK_INTERVAL_MS: '200',
  });
  t.teardown(async () => {
    await registrar.stop();
    await app.close();
    await etcd.stop();
  });
  const key = '/nodes/webapp/node-1';
  const value = () => etcd.client.get(key).string();
  return { etcd, app, registrar, key, value };
}

test.serial('registers a valid record on its own lease, kept alive past the TTL', async (t) => {
  const { etcd, registrar, key, value } = await setup(t);
  const v = await waitFor(value, 'record in etcd');
  t.like(parseRecord('/nodes/', key, v), { id: 'node-1', service: 'webapp', address: '127.0.0.1', state: 'up', weight: 100 });
  const kv = (await etcd.client.get(key).exec()).kvs[0]!;
  t.not(String(kv.lease), '0', 'the key is attached to a lease');
  const ttl = await etcd.client.leaseClient.leaseTimeToLive({ ID: kv.lease });
  t.true(Number(ttl.grantedTTL) === 2, `granted TTL ${ttl.grantedTTL}`);
  await sleep(5000); // more than two TTLs: only keepalives keep it here
  t.truthy(await value(), 'still registered after 2.5 TTLs');
  t.truthy(registrar.events().find((e) => e.event === 'state' && e.state === 'registered'));
});

test.serial('SIGTERM revokes the lease: the key is gone within 500 ms and it exits 0', async (t) => {
  const { registrar, value } = await setup(t);
  await waitFor(value, 'record in etcd');
  const sent = Date.now();
  registrar.signal('SIGTERM');
  await waitFor(async () => (await value()) === null, 'key removed', 2000, 10);
  const took = Date.now() - sent;
  t.true(took <= 500, `key gone after ${took} ms`);
  t.is(await registrar.exited, 0);
});

test.serial('etcd restarted on the same data dir: still registered', async (t) => {
  const { etcd, value } = await setup(t);
  await waitFor(value, 'record in etcd');
  await etcd.pause();
  await sleep(1000);
  await etcd.resume();
  await sleep(5000); // well past the TTL: a lease that was not renewed would be gone
  t.truthy(await waitFor(value, 'record after restart', 5000));
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
  const states = registrar.events().filter((e) => e.event === 'state').map((e) => e.state);
  t.true(states.filter((s) => s === 'registered').length >= 2, states.join(','));
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

test.serial('waits for the app to answer before registering', async (t) => {
  const { app, registrar, value } = await setup(t, false);
  await registrar.waitForEvent((e) => e.event === 'start', 'registrar started');
  await sleep(1500);
  t.is(await value(), null, 'nothing registered while the app is not healthy');
  app.healthy = true;
  t.truthy(await waitFor(value, 'registered once the app answers', 5000));
});
