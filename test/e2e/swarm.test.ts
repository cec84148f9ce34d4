import test from 'ava';
import { buildImages } from '../../harness/compose.js';
import { SwarmStack, type SwarmLoadResult, docker } from '../../harness/swarm.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { PEER_PROBE } from '../helpers/peer-probe.js';
import { ATTACKER } from '../helpers/attacker.js';

// stack.yml on a single-node swarm bound to 127.0.0.1 (made here if there is none, and left
// again afterwards): deploy, scale to 5, then a rolling restart under a keep-alive load with
// cookies, sent from a container on the stack's overlay (nothing is published: swarm would
// publish on every interface). The stack, its volumes and secrets go afterwards, on failure too.
const stack = new SwarmStack();

test.before(async (t) => {
  await buildImages();
  const ms = await stack.deploy(2);
  t.log(`stack ${stack.name} deployed: 2 webapps UP in HAProxy after ${(ms / 1000).toFixed(1)} s`);
});
test.after.always(() => stack.remove());

function assertNoFailures(t: import('ava').ExecutionContext, name: string, r: SwarmLoadResult): void {
  for (const f of r.firstFailures) t.log(`${name}: failed at ${f.at} ms (client ${f.client}): status ${f.status} ${f.error ?? ''}`);
  t.log(`${name}: ${r.requests} requests over ${r.seconds.toFixed(1)} s, ${r.failed} failed, p50 ${r.p50} ms, p99 ${r.p99} ms; by node ${JSON.stringify(r.byHost)}`);
  t.true(r.requests > 0, `${name}: the load ran`);
  t.is(r.failed, 0, `${name}: ${r.failed} of ${r.requests} requests failed`);
}

test.serial('three etcd members with auth on; nothing published', async (t) => {
  t.deepEqual(await stack.publishedPorts(), [], 'swarm would publish on every interface: stack.yml publishes nothing');
  // A member may still be restarting right after the webapps registered (two members suffice).
  const healthy = await waitFor(async () => {
    const out = await stack.etcdctl(['endpoint', 'health', '--cluster']);
    return (out.match(/is healthy/g) ?? []).length === 3 ? out : undefined;
  }, 'all three etcd members healthy', 60000, 1000);
  t.log(healthy.trim());
  const members = await stack.etcdctl(['member', 'list']);
  t.deepEqual(members.trim().split('\n').map((l) => l.split(', ').slice(1, 3).join(' ')).sort(), ['started etcd1', 'started etcd2', 'started etcd3']);
  t.regex(await stack.etcdctl(['auth', 'status']), /Status: true/);
  const failed = await docker(['service', 'ps', '--filter', 'desired-state=shutdown', '--format', '{{.Name}} {{.Error}}', stack.service('etcd1'), stack.service('etcd2'), stack.service('etcd3')]);
  t.log(`etcd tasks that exited: ${failed.trim() || 'none'}`);
});

test.serial('a member\'s peer port refuses the webapp certificate its client port takes', async (t) => {
  const out = await docker(['exec', await stack.container('webapp'), 'node', '-e', PEER_PROBE], { timeoutMs: 20000 });
  const probe = JSON.parse(out) as { client: string; peer: string };
  t.log(`from a webapp task: client port ${probe.client.trim()}; peer port ${probe.peer.trim()}`);
  t.regex(probe.client, /^200 .*etcdserver/, 'the client port takes a registrar certificate');
  t.regex(probe.peer, /^error /, `the peer port refuses it (CN etcd-peer only): ${probe.peer}`);
});

test.serial('the LB\'s sticky-cookie key is the cookie-key secret, not in the service spec', async (t) => {
  const env = JSON.parse(await docker(['service', 'inspect', '-f', '{{json .Spec.TaskTemplate.ContainerSpec.Env}}', stack.service('ha')])) as string[];
  t.true(env.includes('COOKIE_KEY_FILE=/etc/leasehold/pki/cookie-key'), 'COOKIE_KEY_FILE names the secret');
  t.false(env.some((e) => e.startsWith('COOKIE_KEY=')), 'no COOKIE_KEY in the spec');
  // The rendered config's key is the secret's: a replaced LB task reads the same one.
  const n = await docker(['exec', await stack.haContainer(), 'sh', '-c', 'grep -cxF "    dynamic-cookie-key $(cat /etc/leasehold/pki/cookie-key)" /etc/haproxy/haproxy.cfg'], { timeoutMs: 10000 });
  t.true(Number(n.trim()) > 0, `dynamic-cookie-key is the secret's in haproxy.cfg (${n.trim()} lines)`);
});

test.serial('docker service scale webapp=5: 5 servers UP in HAProxy, at the tasks\' overlay addresses', async (t) => {
  const t0 = Date.now();
  await stack.scale(5);
  const up = await stack.untilUp(5, 90000);
  t.log(`scale 2 → 5: all 5 UP after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${up.join(' ')}`);
  t.true(up.every((a) => a.startsWith(stack.subnet.split('.').slice(0, 3).join('.'))), `advertised on the overlay ${stack.subnet}`);
});

test.serial('docker service update --force webapp (rolling restart) under keep-alive GET (cookies) and POST loads: 0 failed requests', async (t) => {
  t.timeout(300000);
  await stack.untilUp(5, 30000);
  // GETs with cookies, and POSTs, which HAProxy never replays on another node once sent.
  const load = await stack.startLoad({ rps: 40, clients: 10, cookies: true, maxSeconds: 200, timeoutMs: 10000 });
  const posts = await stack.startLoad({ rps: 10, clients: 5, post: true, maxSeconds: 200, timeoutMs: 10000 });
  await sleep(2000);
  const ms = await stack.rollingRestart(240000);
  await stack.untilUp(5, 60000);
  t.log(`rolling restart of 5 webapps: swarm done after ${(ms / 1000).toFixed(1)} s`);
  await sleep(1000);
  const [r, p] = [await load.stop(), await posts.stop()];
  assertNoFailures(t, 'keep-alive GET with cookies', r);
  assertNoFailures(t, 'keep-alive POST', p);
  t.true(Object.keys(r.byHost).length >= 6, `requests were served by old and new tasks (${Object.keys(r.byHost).length} nodes)`);
});

test.serial('two LB tasks (ha scaled to 2) under keep-alive load: a record at the other LB\'s :80 is refused by both (no loop), no request fails', async (t) => {
  t.timeout(240000);
  // One LB per node in production (host-mode ports); here both on the one node, nothing published.
  await docker(['service', 'update', '--detach=false', '--quiet', '--replicas-max-per-node', '0', '--replicas', '2', stack.service('ha')], { timeoutMs: 180000 });
  const lbs = await waitFor(async () => {
    const ids = await stack.containers('ha');
    if (ids.length !== 2) return undefined;
    const up = await Promise.all(ids.map(async (id) => (await stack.stats(id).catch(() => [])).filter((r) => r.status === 'UP').length));
    return up.every((n) => n === 5) ? ids : undefined;
  }, 'two LB tasks, each with the 5 webapps UP', 120000, 1000);
  const lbAddrs = await Promise.all(lbs.map(async (id) => (await docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${stack.network}").IPAddress}}`, id])).trim()));
  t.log(`LB tasks at ${lbAddrs.join(', ')}`);
  const load = await stack.startLoad({ rps: 40, clients: 10, cookies: true, maxSeconds: 120, timeoutMs: 10000 });
  await sleep(2000);
  // A webapp registers the second LB's :80 as a node of its own service, on a lease it keeps alive.
  const evil = JSON.stringify({ id: 'evil', service: 'webapp', address: lbAddrs[1], port: 80, tag: 'evil', weight: 100, state: 'up', registeredAt: new Date().toISOString() });
  const attacker = docker(['exec', await stack.container('webapp'), 'sh', '-c', 'timeout 15 node -e "$1" put "$2" "$3" "$4" || true', 'sh', ATTACKER, '/nodes/webapp/evil', evil, '10'], { timeoutMs: 30000 }).catch((e: Error) => e.message);
  await sleep(8000);
  const put = String(await attacker);
  t.regex(put, /"status":200/, `the put itself went through etcd (the registrar may write its service): ${put.slice(0, 600)}`);
  for (const [i, id] of lbs.entries()) {
    const rows = await stack.stats(id);
    t.false(rows.some((r) => lbAddrs.some((a) => r.addr.startsWith(`${a}:`))), `LB ${i + 1} (${lbAddrs[i]}) serves no LB: ${rows.map((r) => `${r.addr} ${r.status}`).join(', ')}`);
    t.is(rows.filter((r) => r.status === 'UP').length, 5, `LB ${i + 1}: the 5 webapps`);
  }
  const r = await load.stop();
  assertNoFailures(t, 'keep-alive GET with cookies through both LBs', r);
  await docker(['service', 'update', '--detach=false', '--quiet', '--replicas', '1', stack.service('ha')], { timeoutMs: 120000 });
});
