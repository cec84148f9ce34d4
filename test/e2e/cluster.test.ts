import test, { type ExecutionContext } from 'ava';
import { ClusterStack, type Lb, MEMBERS } from '../../harness/cluster.js';
import { buildImages, docker } from '../../harness/compose.js';
import { get } from '../../harness/http.js';
import { startLoad } from '../../harness/load.js';
import { assertNoFailures } from '../helpers/assert-load.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { PEER_PROBE, RENDERER_PROBE } from '../helpers/peer-probe.js';

// compose.cluster.yml under keep-alive load with cookies through both LBs: three etcd members,
// two LBs, two webapps. The etcd leader stopped, one LB killed, one member cut off the network:
// no request may fail, both LBs must end up with the same live set, and etcd with no stale record.
const TTL_S = 5;
const stack = new ClusterStack();

test.before(async () => {
  await buildImages('compose.cluster.yml');
  await stack.upCluster(2, { LEASE_TTL: String(TTL_S) });
  await stack.convergedBoth(90000);
});
test.after.always(() => stack.down());

type Loads = Record<string, ReturnType<typeof startLoad>>;

/** Per LB: keep-alive GETs holding cookies and GETs on a fresh connection (25 req/s), at most 60 s. */
function underLoad(lbs: Lb[] = stack.lbs): Loads {
  const loads: Loads = {};
  for (const lb of lbs) {
    loads[`${lb.name} keep-alive GET with cookies`] = startLoad(lb.url, { rps: 20, clients: 5, cookies: true, maxSeconds: 60 });
    loads[`${lb.name} fresh-connection GET`] = startLoad(lb.url, { rps: 5, mode: 'fresh', maxSeconds: 60 });
  }
  return loads;
}

/** `leasehold status --json` in ha1 sees both renderers and says they agree. */
async function lbsAgree(t: ExecutionContext): Promise<void> {
  const s = await waitFor(async () => {
    const st = await stack.status();
    return st.lbsAgree?.agree ? st : undefined;
  }, 'leasehold status: both LBs agree', 45000, 500);
  t.deepEqual(s.renderers.map((r) => [r.lb, r.reachable]), [['LB1', true], ['LB2', true]]);
}

test.serial('a sticky cookie from LB 1 leads to the same node through LB 2; leasehold status says both LBs agree', async (t) => {
  const [lb1, lb2] = stack.lbs;
  const homes = new Set<string>();
  for (let i = 0; i < 8; i++) {
    const a = await get(lb1.url);
    t.is(a.status, 200);
    const cookie = [a.headers['set-cookie'] ?? []].flat().map((c) => c.split(';')[0]).join('; ');
    t.regex(cookie, /SERVERID=[0-9a-f]+/, 'HAProxy set its dynamic cookie');
    homes.add(a.body.host);
    for (let j = 0; j < 3; j++) {
      const b = await get(lb2.url, { cookie });
      t.is(b.status, 200);
      t.is(b.body.host, a.body.host, `client ${i}: LB 2 sends the cookie of ${a.body.host} there`);
      t.is(b.body.sessionViews, j + 2, `client ${i}: the app's session goes on`);
    }
  }
  t.is(homes.size, 2, 'LB 1 spread the clients over both nodes');
  await lbsAgree(t);
});

test.serial('trust: ports on 127.0.0.1 only, none for etcd; a member\'s peer port refuses the client certificate its client port takes', async (t) => {
  for (const service of ['ha1', 'ha2']) {
    const info = await (await stack.containerOf(service)).inspect();
    const bindings = Object.values(info.HostConfig.PortBindings ?? {}).flat() as { HostIp?: string; HostPort?: string }[];
    t.is(bindings.length, 2, `${service}: the LB and stats ports`);
    t.true(bindings.every((b) => b?.HostIp === '127.0.0.1'), `${service}: ${JSON.stringify(bindings)}`);
  }
  for (const m of MEMBERS) t.deepEqual(Object.keys((await (await stack.containerOf(m)).inspect()).HostConfig.PortBindings ?? {}), [], `${m}: no published port`);
  const r = await stack.exec('webapp', ['node', '-e', PEER_PROBE]);
  const probe = JSON.parse(r.stdout) as { client: string; peer: string };
  t.regex(probe.client, /^200 .*etcdserver/, 'the client port takes a registrar certificate');
  t.regex(probe.peer, /^error /, `the peer port refuses it (CN etcd-peer only): ${probe.peer}`);
  // The renderers' /status is open to each other (leasehold status shows both), by certificate:
  // a webapp, whose registrar certificate is of the same CA, is refused before a request is read.
  const w = JSON.parse((await stack.exec('webapp', ['node', '-e', RENDERER_PROBE('ha1', 'registrar')])).stdout) as Probe;
  t.regex(w.plain, /^error (ECONNREFUSED|EHOSTUNREACH)/, `ha1's plain port is loopback only: ${w.plain}`);
  t.is(w.peer.answers, 0, `2,000 pipelined /status with a registrar certificate: no answer (${JSON.stringify(w.peer)})`);
  t.is(w.noCert.answers, 0, `no certificate: no answer (${JSON.stringify(w.noCert)})`);
  const p = JSON.parse((await stack.exec('ha2', ['node', '-e', RENDERER_PROBE('ha1', 'peer', 3)])).stdout) as Probe;
  t.is(p.peer.answers, 3, `ha2 (a peer, its certificate) is answered: ${JSON.stringify(p.peer)}`);
});

interface Probe {
  plain: string;
  peer: { answers: number; error: string };
  noCert: { answers: number; error: string };
}

test.serial('stop the etcd leader under load: no failed request; registrars stay; nothing stale after TTL + 2 s; it rejoins', async (t) => {
  const loads = underLoad();
  await sleep(1500);
  const live = await stack.webappIds();
  const leader = await stack.leader();
  const rest = MEMBERS.filter((m) => m !== leader);
  const member = await stack.containerOf(leader);
  const stopped = Date.now();
  await member.stop({ t: 5 });
  const next = await waitFor(() => stack.leader(rest).catch(() => undefined), 'a new leader', 20000, 250);
  t.log(`leader ${leader} stopped; ${next} leads ${Date.now() - stopped} ms after the stop began`);
  t.not(next, leader);

  // Every registrar keeps (or gets back) its record on the remaining majority.
  await waitFor(async () => {
    const recs = new Set((await stack.etcdRecords(rest)).map((r) => r.id));
    return live.every((h) => recs.has(h));
  }, 'every registrar registered with the new leader', 10000, 250);
  t.log(`every registrar registered ${Date.now() - stopped} ms after the stop began`);

  // A crash while the old leader is away: its lease must expire under the new one.
  const [victimInfo] = await stack.containers('webapp');
  const victim = await stack.webapp(victimInfo!.Id);
  const killed = Date.now();
  await docker.getContainer(victimInfo!.Id).kill();
  const survivors = live.filter((h) => h !== victim.hostname);
  await sleep(Math.max(0, killed + (TTL_S + 2) * 1000 - Date.now()));
  t.deepEqual((await stack.etcdRecords(rest)).map((r) => r.id).sort(), survivors, `TTL + 2 s after the crash: etcd holds the live webapps only`);
  for (const lb of stack.lbs) t.deepEqual(await stack.upOn(lb), survivors, `${lb.name}: the live webapps only`);

  await member.start();
  await waitFor(() => stack.clusterHealthy().catch(() => false), `${leader} back: every member healthy`, 30000, 500);
  const members = await stack.etcdctl(['member', 'list', '-w', 'json']);
  t.is((JSON.parse(members).members as unknown[]).length, 3);
  await sleep(1000);
  await assertNoFailures(t, loads);

  await docker.getContainer(victimInfo!.Id).remove({ force: true });
  await stack.scale(2);
  await stack.convergedBoth(60000);
  await lbsAgree(t);
});

test.serial('kill one LB: the other serves with no failed request; the killed one comes back with the full live set; both agree', async (t) => {
  const [lb1, lb2] = stack.lbs;
  const live = await stack.convergedBoth(30000);
  const loads = underLoad([lb1]);
  await sleep(1500);
  const ha2 = await stack.containerOf('ha2');
  const info = await ha2.inspect();
  // A crash, not `docker kill` (which Docker treats as a manual stop): SIGKILL its PID 1 from the host.
  process.kill(info.State.Pid, 'SIGKILL');
  await waitFor(async () => (await get(`${lb2.statsUrl}/;csv`, {}, 1000)).status !== 200, 'LB 2 gone', 10000, 100);
  await waitFor(async () => (await ha2.inspect()).RestartCount > info.RestartCount, 'restart policy to restart ha2', 30000, 100);
  await waitFor(async () => (await get(`${lb2.statsUrl}/;csv`, {}, 1000)).status === 200, 'LB 2 back', 30000, 100);
  t.deepEqual(await waitFor(async () => ((await stack.upOn(lb2)).join() === live.join() ? live : undefined), 'LB 2 with the full live set', 30000, 250), live);
  await sleep(1000);
  await assertNoFailures(t, loads);
  t.deepEqual(await stack.convergedBoth(10000), live);
  await lbsAgree(t);
  const both = underLoad();
  await sleep(2000);
  await assertNoFailures(t, both);
});

test.serial('cut etcd1 (every registrar\'s first endpoint) off the network under load: nothing breaks; reconnected, it rejoins', async (t) => {
  const loads = underLoad();
  await sleep(1500);
  const live = await stack.webappIds();
  // The registrars all start on the first of their endpoints: cutting that one makes each fail over.
  const member = 'etcd1';
  t.log(`leader before: ${await stack.leader()}`);
  const rest = MEMBERS.filter((m) => m !== member);
  const reconnect = await stack.partition(member);
  const cut = Date.now();
  try {
    // Two TTLs apart: every lease must have been kept alive through the majority meanwhile.
    let missing = 0;
    while (Date.now() - cut < 2 * TTL_S * 1000) {
      const recs = new Set((await stack.etcdRecords(rest).catch(() => [])).map((r) => r.id));
      if (!live.every((h) => recs.has(h))) missing++;
      await sleep(500);
    }
    t.log(`${member} cut off for ${Date.now() - cut} ms; polls with a registrar missing: ${missing}`);
    await waitFor(async () => {
      const recs = new Set((await stack.etcdRecords(rest)).map((r) => r.id));
      return live.every((h) => recs.has(h));
    }, 'every registrar registered on the majority', 10000, 250);
    for (const lb of stack.lbs) t.deepEqual(await stack.upOn(lb), live, `${lb.name}: every live webapp UP`);
  } finally {
    await reconnect();
  }
  await waitFor(() => stack.clusterHealthy().catch(() => false), `${member} reconnected: every member healthy`, 30000, 500);
  await sleep(1000);
  await assertNoFailures(t, loads);
  t.deepEqual(await stack.convergedBoth(30000), live);
  await lbsAgree(t);
});
