import test from 'ava';
import { ComposeStack, buildImages, docker } from '../../harness/compose.js';
import { startLoad } from '../../harness/load.js';
import { sleep, waitFor } from '../../harness/wait.js';

// One stack for the file: the tests run in order and each leaves it as the next expects.
const stack = new ComposeStack();

test.before(async () => {
  await buildImages();
  await stack.up({ webapps: 2 });
});
test.after.always(() => stack.down());

/** Distinct `host` values (container hostnames) among n requests from keep-alive clients. */
async function hostsSeen(n: number): Promise<string[]> {
  const load = startLoad(stack.url, { rps: 100, maxSeconds: 30, maxRequests: n });
  await waitFor(() => load.samples.length >= n, `${n} answers`, 30000);
  const r = await load.stop();
  if (r.failed.length) throw new Error(`failed requests: ${JSON.stringify(r.failed.slice(0, 5))}`);
  return [...new Set(r.samples.map((s) => s.host!))].sort();
}

test.serial('up with 2 webapps: requests reach both and the stats page shows both UP', async (t) => {
  const ids = await stack.converged(60000);
  t.is(ids.length, 2);
  t.deepEqual(await hostsSeen(20), ids);
  t.deepEqual(await stack.upInHaproxy(), ids, 'the stats page shows both UP');
  const logs = await stack.logs('ha');
  t.regex(logs, /"event":"node","change":"joined"/);
  t.regex(logs, /"event":"reload","reloads":\d+,"workerPid":\d+,"durationMs":\d+,"cause":"config"/, 'one reload: the first structure');
});

test.serial('scale to 5: requests reach 5 hosts and etcd lists 5 records', async (t) => {
  await stack.scale(5);
  const ids = await stack.converged(60000);
  t.is(ids.length, 5);
  t.deepEqual(await hostsSeen(50), ids);
  const records = await stack.etcdRecords();
  t.deepEqual(records.map((r) => r.id).sort(), ids);
  for (const r of records) t.like(r, { service: 'webapp', port: 3000, state: 'up' });
});

test.serial('docker stop of a webapp under light load: no failed request', async (t) => {
  const before = await stack.converged(60000);
  const load = startLoad(stack.url, { rps: 20, maxSeconds: 30 });
  await sleep(2000);
  const [victim] = await stack.containers('webapp');
  await docker.getContainer(victim!.Id).stop({ t: 10 });
  const after = await stack.converged(30000);
  t.is(after.length, before.length - 1);
  await sleep(2000);
  const r = await load.stop();
  t.true(r.samples.length > 50, `${r.samples.length} requests`);
  t.deepEqual(r.failed, [], 'no failed request');
});

test.serial('scale to 1: only that one answers; stats and etcd agree', async (t) => {
  await stack.scale(1);
  const ids = await stack.converged(60000);
  t.is(ids.length, 1);
  t.deepEqual(await hostsSeen(10), ids);
  t.deepEqual((await stack.etcdRecords()).map((r) => r.id), ids);
  t.deepEqual(await stack.upInHaproxy(), ids);
  t.is((await stack.stats()).filter((r) => r.status !== 'MAINT').length, 1, 'every other slot in maintenance');
});
