// Any image joins: `labelled` is Debian's busybox httpd with nothing of leasehold in it,
// registered by its labels through the per-host agent (compose.yml), under the load real clients
// make, through joins, `docker stop`, SIGKILL and the agent's own restart.
import test from 'ava';
import { docker, stackForFile } from '../../harness/compose.js';
import { assertNoFailures } from '../helpers/assert-load.js';
import { routedService } from '../helpers/service.js';
import { sleep, waitFor } from '../../harness/wait.js';

const stack = stackForFile(test, { webapps: 1 });
const HOST = 'labelled.localhost';
const { running: labelled, records, converged, load, scale } = routedService(stack, 'labelled', HOST);

test.serial('an unchanged busybox image joins by its labels: served for its Host, in etcd under its own service, and scales', async (t) => {
  await scale(3);
  const ids = await converged(60000);
  t.is(ids.length, 3);
  const l = load({ maxRequests: 60, rps: 30 });
  await sleep(2500);
  const r = await l['keep-alive GET'].stop();
  await l['fresh-connection GET'].stop();
  t.is(r.failed.length, 0);
  t.deepEqual([...new Set(r.samples.map((s) => s.host))].sort(), ids, 'every container answers for labelled.localhost');
});

test.serial('docker stop of a labelled container under load: out at the TERM signal, no failed request', async (t) => {
  const before = await converged();
  const loads = load();
  await sleep(1500);
  const [victim, id] = [...(await labelled())][0]!;
  const stopped = Date.now();
  // busybox httpd as PID 1 ignores TERM: Docker kills it after 10 s, and it serves out of
  // rotation meanwhile. The record goes at the TERM signal, long before.
  const stopping = docker.getContainer(id).stop({ t: 10 });
  await waitFor(async () => !(await records()).some((r) => r.id === victim), 'record gone', 10000, 50);
  const gone = Date.now() - stopped;
  t.log(`record gone ${gone} ms after docker stop began`);
  t.true(gone < 5000, `${gone} ms: at the TERM signal, not at the kill 10 s later`);
  await stopping;
  await sleep(1500);
  await assertNoFailures(t, loads);
  await docker.getContainer(id).remove({ force: true });
  await scale(before.length);
  await converged(60000);
});

test.serial('SIGKILL of a labelled container under load: out at once (the agent sees the kill), no failed request', async (t) => {
  const before = await converged();
  const loads = load();
  await sleep(1500);
  const [victim, id] = [...(await labelled())][0]!;
  const killed = Date.now();
  await docker.getContainer(id).kill();
  await waitFor(async () => !(await records()).some((r) => r.id === victim), 'record gone', 10000, 50);
  const gone = Date.now() - killed;
  t.log(`record gone ${gone} ms after the kill (lease TTL 5 s: not by expiry)`);
  t.true(gone < 4000, `${gone} ms`);
  await sleep(1500);
  await assertNoFailures(t, loads);
  await docker.getContainer(id).remove({ force: true });
  await scale(before.length);
  await converged(60000);
});

test.serial('the agent killed and started again under load: no failed request, no record but the running containers\', all back', async (t) => {
  const before = await converged();
  const loads = load();
  await sleep(1500);
  const [agent] = await stack.containers('agent');
  const a = docker.getContainer(agent!.Id);
  // Its leases outlive it by at most a TTL (5 s); past that, fail static keeps the nodes in
  // HAProxy (every one of them vanished at once, without a goodbye) until the new agent is back.
  await a.kill();
  await a.start();
  const seen = new Set<number>();
  await waitFor(async () => {
    const ids = (await records()).map((r) => r.id);
    seen.add(ids.length);
    t.true(new Set(ids).size === ids.length && ids.length <= before.length, `records ${ids}`);
    return (await a.inspect()).State.Health?.Status === 'healthy' && ids.length === before.length;
  }, 'the agent healthy again, every container registered', 30000, 250);
  t.log(`record counts seen while the agent came back: ${[...seen].join(', ')}`);
  await sleep(6000); // the old leases expire meanwhile: the records are on the new ones
  t.deepEqual((await records()).map((r) => r.id).sort(), before);
  await assertNoFailures(t, loads);
  t.deepEqual(await converged(), before);
});

test.serial('a container labelled for a service the agent holds no credentials for is refused and reported, never in etcd', async (t) => {
  const [agent] = await stack.containers('agent');
  const info = await docker.getContainer(agent!.Id).inspect();
  const network = Object.keys(info.NetworkSettings.Networks)[0]!;
  const c = await docker.createContainer({
    Image: `leasehold/static:${process.env.LEASEHOLD_TAG || 'latest'}`,
    Labels: { 'com.docker.compose.project': stack.project, 'leasehold.test-run': stack.runId, 'leasehold.service': 'webapp', 'leasehold.port': '8080' },
    HostConfig: { NetworkMode: network },
  });
  t.teardown(() => c.remove({ force: true }).catch(() => undefined));
  await c.start();
  const name = (await c.inspect()).Name.replace(/^\//, '');
  await waitFor(async () => (await stack.logs('agent')).includes(`${name} not registered`), 'refusal logged', 15000, 250);
  t.regex(await stack.logs('agent'), /registers only labelled/);
  await sleep(1000);
  t.false((await stack.recordsOf(null)).some((r) => r.id === c.id.slice(0, 12)));
});
