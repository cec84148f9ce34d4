import test from 'ava';
import { ComposeStack, buildImages, docker } from '../helpers/compose.js';
import { cookies, get } from '../helpers/http.js';
import { startLoad } from '../helpers/load.js';
import { sleep, waitFor } from '../helpers/wait.js';

// One stack for the file: the tests run in order and each leaves it as the next expects.
const stack = new ComposeStack();

test.before(async () => {
  await buildImages();
  await stack.up({ webapps: 2 });
});
test.after.always(() => stack.down());

/** Distinct `host` values (container hostnames) among n fresh-connection requests. */
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
  t.deepEqual((await stack.stats()).map((s) => s.status), ['UP', 'UP']);
  const logs = await stack.logs('ha');
  t.regex(logs, /"event":"node","change":"joined"/);
  t.regex(logs, /"event":"reload"/);
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

test.serial('sticky sessions hold while other nodes join and leave', async (t) => {
  const first = await get(stack.url);
  const jar = cookies(first);
  t.regex(jar, /SERVERID=/);
  t.regex(jar, /NODESESSID=/);
  const body = first.body;
  t.is(body.sessionViews, 1);
  const home = body.host;
  // Churn around the session: scale up, then down, keeping the session's own container.
  const churn = (async () => {
    await stack.scale(7);
    const victims = (await stack.containers('webapp')).filter((c) => !c.Id.startsWith(home));
    for (const v of victims.slice(0, 3)) await docker.getContainer(v.Id).stop({ t: 10 });
  })();
  const seen: { host: string; views: number }[] = [];
  for (let i = 2; i <= 10; i++) {
    const r = (await get(stack.url, { cookie: jar })).body;
    seen.push({ host: r.host, views: r.sessionViews });
    await sleep(400);
  }
  await churn;
  t.deepEqual(seen, Array.from({ length: 9 }, (_, i) => ({ host: home, views: i + 2 })));
  await stack.converged(60000);
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
  t.deepEqual((await stack.stats()).map((s) => s.server), ids);
});
