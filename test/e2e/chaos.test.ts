import test, { type ExecutionContext } from 'ava';
import { ComposeStack, buildImages, docker } from '../helpers/compose.js';
import { type LoadResult, startLoad } from '../helpers/load.js';
import { sleep, waitFor } from '../helpers/wait.js';

// Every scenario runs under a bounded client load through the LB (50 req/s, at most 60 s)
// and checks convergence: HAProxy's servers = etcd's records = the running, healthy webapps.
const TTL_S = 5;
const stack = new ComposeStack();

test.before(async () => {
  await buildImages();
  await stack.up({ webapps: 3, env: { LEASE_TTL: String(TTL_S) } });
  await stack.converged(60000);
});
test.after.always(() => stack.down());

function underLoad() {
  return startLoad(stack.url, { rps: 50, maxSeconds: 60 });
}

/** Fails the test on any failed request, with the failures and their neighbours in the log. */
function assertNoFailures(t: ExecutionContext, r: LoadResult): void {
  t.true(r.samples.length > 0, 'the load ran');
  if (r.failed.length) {
    for (const f of r.failed.slice(0, 20)) {
      const near = r.samples.filter((s) => Math.abs(s.at - f.at) < 300).map((s) => `${s.at}ms:${s.status}${s.error ? `(${s.error})` : ''}:${s.host ?? '-'}`);
      t.log(`failed at ${f.at} ms: status ${f.status} ${f.error ?? ''}; around it: ${near.join(' ')}`);
    }
  }
  t.is(r.failed.length, 0, `${r.failed.length} of ${r.samples.length} requests failed`);
  t.log(`${r.samples.length} requests, 0 failed, p50 ${r.p50} ms, p99 ${r.p99} ms`);
}

async function webapp(index = 0) {
  const list = await stack.containers('webapp');
  const c = list[index]!;
  const hostname = (await docker.getContainer(c.Id).inspect()).Config.Hostname;
  return { container: docker.getContainer(c.Id), id: c.Id, hostname };
}

/** Removes a stopped or killed webapp and scales back to the three the next scenario expects. */
async function replace(victim: Awaited<ReturnType<typeof webapp>>): Promise<void> {
  await victim.container.remove({ force: true });
  await stack.scale(3);
  await stack.converged(60000);
}

/** Polls the stats CSV until `pred` holds for the server; returns ms since `since`. */
async function until(server: string, pred: (status: string | undefined) => boolean, since: number, timeoutMs: number, what: string): Promise<number> {
  await waitFor(async () => pred((await stack.stats()).find((s) => s.server === server)?.status), what, timeoutMs, 10);
  return Date.now() - since;
}

test.serial('SIGKILL a webapp: out of the config within TTL + 1 s, no failed GET, no stale record', async (t) => {
  const load = underLoad();
  await sleep(1500);
  const victim = await webapp(0);
  const killed = Date.now();
  await victim.container.kill();
  const down = await until(victim.hostname, (s) => s !== 'UP', killed, 15000, 'marked down by health checks');
  const gone = await until(victim.hostname, (s) => s === undefined, killed, 15000, 'removed from the config');
  t.log(`health checks: not UP after ${down} ms; lease expiry: out of the config after ${gone} ms (TTL ${TTL_S} s)`);
  t.true(gone <= (TTL_S + 1) * 1000 + 1000, `out of the config after ${gone} ms`); // a second of slack for a loaded CI
  await sleep(1000);
  assertNoFailures(t, await load.stop());
  const ids = await stack.converged(10000);
  t.false(ids.includes(victim.hostname));
  t.false((await stack.etcdRecords()).some((r) => r.id === victim.hostname), 'no stale record');
  await replace(victim);
});

test.serial('docker stop a webapp: out of rotation within 200 ms of SIGTERM, no failed request', async (t) => {
  const load = underLoad();
  await sleep(1500);
  const victim = await webapp(0);
  const stopping = Date.now();
  const stopped = victim.container.stop({ t: 10 });
  const out = await until(victim.hostname, (s) => s !== 'UP', stopping, 5000, 'out of rotation');
  t.log(`out of rotation ${out} ms after docker stop was called`);
  t.true(out <= 1000, `out of rotation after ${out} ms`); // the figure against 200 ms is in bench/; this bound is for a loaded CI
  await stopped;
  await stack.converged(15000);
  await sleep(1000);
  assertNoFailures(t, await load.stop());
  await replace(victim);
});

test.serial('scale 2 → 6 → 2 under load: no failed request', async (t) => {
  await stack.scale(2);
  await stack.converged(30000);
  const load = underLoad();
  await sleep(1000);
  await stack.scale(6);
  t.is((await stack.converged(60000)).length, 6);
  await sleep(1000);
  await stack.scale(2);
  t.is((await stack.converged(60000)).length, 2);
  await sleep(1000);
  assertNoFailures(t, await load.stop());
  await stack.scale(3);
  await stack.converged(60000);
});

test.serial('kill the ha container: it comes back with the full live set from etcd', async (t) => {
  const [ha] = await stack.containers('ha');
  const info = await docker.getContainer(ha!.Id).inspect();
  const live = await stack.webappIds();
  // A crash, not `docker kill` (which Docker treats as a manual stop): SIGKILL its PID 1 from the host.
  process.kill(info.State.Pid, 'SIGKILL');
  await waitFor(async () => (await docker.getContainer(ha!.Id).inspect()).RestartCount > info.RestartCount, 'restart policy to restart ha', 30000, 100);
  const back = await stack.converged(60000);
  t.deepEqual(back, live);
  const load = underLoad();
  await sleep(3000);
  const r = await load.stop();
  assertNoFailures(t, r);
  t.deepEqual([...new Set(r.samples.map((s) => s.host))].sort(), live, 'every live webapp serves again');
});

test.serial('stop etcd for 10 s: the LB keeps serving; registrars are back within seconds; nothing stale', async (t) => {
  const load = underLoad();
  await sleep(1000);
  const live = await stack.webappIds();
  const [etcd] = await stack.containers('etcd');
  const e = docker.getContainer(etcd!.Id);
  await e.stop({ t: 5 });
  // One webapp leaves for good while etcd is away: its lease cannot be revoked now.
  const victim = await webapp(0);
  await victim.container.stop({ t: 10 });
  await sleep(10000);
  await e.start();
  const returned = Date.now();
  const remaining = live.filter((h) => h !== victim.hostname).sort();
  await waitFor(async () => {
    const recs = new Set((await stack.etcdRecords()).map((r) => r.id));
    return remaining.every((h) => recs.has(h));
  }, 'every live registrar back in etcd', 15000, 100);
  const back = Date.now() - returned;
  t.log(`every live registrar back in etcd ${back} ms after etcd was started`);
  t.true(back <= 10000, `registrars back after ${back} ms`);
  const ids = await stack.converged(30000);
  t.log(`converged (stale lease expired too) ${Date.now() - returned} ms after etcd was started`);
  t.deepEqual(ids, live.filter((h) => h !== victim.hostname).sort());
  t.false((await stack.etcdRecords()).some((r) => r.id === victim.hostname), 'no stale record after the TTL');
  await sleep(1000);
  assertNoFailures(t, await load.stop());
  await replace(victim);
});

test.serial('disconnect a webapp from the network: its lease expires and it leaves; reconnect: it registers again', async (t) => {
  const load = underLoad();
  await sleep(1000);
  const victim = await webapp(0);
  const net = docker.getNetwork(`${stack.project}_default`);
  const cut = Date.now();
  await net.disconnect({ Container: victim.id, Force: true });
  const gone = await until(victim.hostname, (s) => s === undefined, cut, (TTL_S + 10) * 1000, 'partitioned node out of the config');
  t.log(`partitioned node out of the config after ${gone} ms`);
  t.false((await stack.etcdRecords()).some((r) => r.id === victim.hostname), 'its record expired');
  await net.connect({ Container: victim.id });
  const rejoined = Date.now();
  await until(victim.hostname, (s) => s === 'UP', rejoined, 30000, 'reconnected node back and UP');
  t.log(`reconnected node UP again after ${Date.now() - rejoined} ms`);
  t.is((await stack.converged(30000)).length, 3);
  await sleep(1000);
  assertNoFailures(t, await load.stop());
});
