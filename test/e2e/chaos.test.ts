import { execFile } from 'node:child_process';
import test from 'ava';
import { docker, stackForFile } from '../../harness/compose.js';
import { type LoadOptions, startLoad, streamRequest } from '../../harness/load.js';
import { assertNoFailures } from '../helpers/assert-load.js';
import { sleep, waitFor } from '../../harness/wait.js';

// Every scenario runs under bounded client loads through the LB, the way real clients talk:
// keep-alive connections holding sticky cookies (GET), keep-alive POSTs, and one load on a fresh
// connection per request. Each checks convergence: HAProxy's slots in rotation = etcd's records
// = the running, healthy webapps, and that no request failed.
const TTL_S = 5;
const stack = stackForFile(test, { webapps: 3, env: { LEASE_TTL: String(TTL_S) } });

type Loads = Record<string, ReturnType<typeof startLoad>>;

/** The three client kinds at once, bounded to 60 s: 30 + 10 + 10 requests a second. */
function underLoad(extra: Partial<LoadOptions> = {}): Loads {
  const bound = { maxSeconds: 60, ...extra };
  return {
    'keep-alive GET with cookies': startLoad(stack.url, { rps: 30, clients: 10, cookies: true, ...bound }),
    'keep-alive POST': startLoad(stack.url, { rps: 10, clients: 5, post: true, ...bound }),
    'fresh-connection GET': startLoad(stack.url, { rps: 10, mode: 'fresh', ...bound }),
  };
}

async function webapp(index = 0) {
  const c = (await stack.containers('webapp'))[index]!;
  return { container: docker.getContainer(c.Id), id: c.Id, ...(await stack.webapp(c.Id)) };
}

/** Removes a stopped or killed webapp and scales back to the three the next scenario expects. */
async function replace(victim: Awaited<ReturnType<typeof webapp>>): Promise<void> {
  await victim.container.remove({ force: true });
  await stack.scale(3);
  await stack.converged(60000);
}

/** Polls the stats CSV until `pred` holds for the node at `addr` (in the slot it is in now); returns ms since `since`. */
async function until(addr: string, pred: (status: string | undefined) => boolean, since: number, timeoutMs: number, what: string): Promise<number> {
  const slot = await waitFor(() => stack.slotOf(addr), `a slot in rotation for ${addr}`, timeoutMs, 10);
  await waitFor(async () => pred(await stack.slotStatus(slot, addr)), what, timeoutMs, 10);
  return Date.now() - since;
}

/** The slot a node sits in, found before it is disturbed. */
async function slotOf(addr: string): Promise<string> {
  return waitFor(() => stack.slotOf(addr), `a slot in rotation for ${addr}`, 15000, 50);
}

async function untilSlot(slot: string, addr: string, pred: (status: string | undefined) => boolean, since: number, timeoutMs: number, what: string): Promise<number> {
  await waitFor(async () => pred(await stack.slotStatus(slot, addr)), what, timeoutMs, 10);
  return Date.now() - since;
}

test.serial('SIGKILL a webapp: out of rotation at once, slot freed within TTL + 1 s, no failed GET, no stale record', async (t) => {
  const loads = { 'keep-alive GET with cookies': startLoad(stack.url, { rps: 40, clients: 10, cookies: true, maxSeconds: 60 }), 'fresh-connection GET': startLoad(stack.url, { rps: 10, mode: 'fresh', maxSeconds: 60 }) };
  await sleep(1500);
  const victim = await webapp(0);
  const slot = await slotOf(victim.addr);
  const before = await stack.haProc();
  const killed = Date.now();
  await victim.container.kill();
  const down = await untilSlot(slot, victim.addr, (s) => s !== 'UP', killed, 15000, 'marked down by HAProxy');
  const gone = await untilSlot(slot, victim.addr, (s) => s === undefined, killed, 15000, 'slot out of rotation (lease expired)');
  t.true(gone >= (TTL_S * 1000) / 3, `out of rotation after ${gone} ms: by lease expiry (TTL minus up to one keepalive period), not before`);
  t.log(`HAProxy: not UP after ${down} ms; lease expiry: slot in maintenance after ${gone} ms (TTL ${TTL_S} s)`);
  t.true(gone <= (TTL_S + 1) * 1000 + 1000, `slot left rotation after ${gone} ms`); // a second of slack for a loaded CI
  await sleep(1000);
  await assertNoFailures(t, loads);
  const ids = await stack.converged(10000);
  t.false(ids.includes(victim.hostname));
  t.false((await stack.etcdRecords()).some((r) => r.id === victim.hostname), 'no stale record');
  t.deepEqual(await stack.haProc(), before, 'no reload: same worker');
  await replace(victim);
});

test.serial('docker stop a webapp: out of rotation within 1 s of SIGTERM, no failed request of any kind', async (t) => {
  const loads = underLoad();
  await sleep(1500);
  const victim = await webapp(0);
  const slot = await slotOf(victim.addr);
  const stopping = Date.now();
  const stopped = victim.container.stop({ t: 30 });
  const out = await untilSlot(slot, victim.addr, (s) => s !== 'UP', stopping, 5000, 'out of rotation');
  t.log(`out of rotation ${out} ms after docker stop was called`);
  t.true(out <= 1000, `out of rotation after ${out} ms`); // the figure against 50 ms is in bench/; this bound is for a loaded CI
  await stopped;
  await stack.converged(15000);
  await sleep(1000);
  await assertNoFailures(t, loads);
  await replace(victim);
});

test.serial('scale 2 → 6 → 2 under keep-alive, POST and fresh loads, with a 20 s stream: nothing fails, no POST twice, no reload', async (t) => {
  await stack.scale(2);
  await stack.converged(30000);
  const posts: string[] = [];
  const stopLogs = await stack.followLogs('webapp', (line) => {
    if (line.includes('"msg":"post"')) posts.push(JSON.parse(line.slice(line.indexOf('{'))).id);
  });
  const before = await stack.haProc();
  const loads = underLoad();
  const stream = streamRequest(stack.url, 20);
  await sleep(1000);
  await stack.scale(6);
  t.is((await stack.converged(60000)).length, 6);
  await sleep(1000);
  await stack.scale(2);
  t.is((await stack.converged(60000)).length, 2);
  await sleep(1000);
  const results = await assertNoFailures(t, loads);
  const s = await stream;
  t.true(s.complete, `the stream completed: ${s.status} ${s.error ?? ''} ${s.lines.length} lines in ${s.ms} ms`);
  // Every POST answered 200 was handled exactly once.
  await waitFor(() => posts.length >= results['keep-alive POST']!.ok, 'every POST in the logs', 10000);
  stopLogs();
  const counts = new Map<string, number>();
  for (const id of posts) counts.set(id, (counts.get(id) ?? 0) + 1);
  t.deepEqual([...counts].filter(([, n]) => n > 1), [], 'no POST handled twice');
  t.deepEqual(results['keep-alive POST']!.samples.map((x) => x.id).filter((id) => !counts.has(id!)), [], 'every POST handled');
  t.deepEqual(await stack.haProc(), before, 'same HAProxy worker before and after: membership never reloads');
  await stack.scale(3);
  await stack.converged(60000);
});

test.serial('sticky sessions hold while other nodes join and leave', async (t) => {
  const load = startLoad(stack.url, { rps: 20, clients: 5, cookies: true, maxSeconds: 60 });
  await sleep(1000);
  const homes = new Map(load.samples.map((s) => [s.client, s.host]));
  const keep = new Set(homes.values());
  // Churn around the sessions: scale up, then stop three nodes no session lives on.
  await stack.scale(7);
  await stack.converged(60000);
  const others = [];
  for (const c of await stack.containers('webapp')) if (!keep.has((await stack.webapp(c.Id)).hostname)) others.push(c.Id);
  await Promise.all(others.slice(0, 3).map((id) => docker.getContainer(id).stop({ t: 30 })));
  await stack.converged(60000);
  await sleep(1000);
  const r = await load.stop();
  t.is(r.failed.length, 0);
  for (let c = 0; c < 5; c++) {
    const mine = r.samples.filter((s) => s.client === c);
    t.deepEqual([...new Set(mine.map((s) => s.host))], [homes.get(c)], `client ${c} stayed on its node`);
    t.deepEqual(mine.map((s) => s.views), mine.map((_, i) => i + 1), `client ${c}: its session counted every view`);
  }
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
  const loads = underLoad();
  await sleep(3000);
  const r = await assertNoFailures(t, loads);
  t.deepEqual([...new Set(r['keep-alive GET with cookies']!.samples.map((s) => s.host))].sort(), live, 'every live webapp serves again');
});

test.serial('stop etcd for 10 s: the LB keeps serving; registrars are back within seconds; nothing stale', async (t) => {
  const loads = underLoad();
  await sleep(1000);
  const live = await stack.webappIds();
  const [etcd] = await stack.containers('etcd');
  const e = docker.getContainer(etcd!.Id);
  await e.stop({ t: 5 });
  // One webapp leaves for good while etcd is away: its lease cannot be revoked now.
  const victim = await webapp(0);
  await victim.container.stop({ t: 30 });
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
  t.deepEqual(ids, remaining);
  t.false((await stack.etcdRecords()).some((r) => r.id === victim.hostname), 'no stale record after the TTL');
  await sleep(1000);
  await assertNoFailures(t, loads);
  await replace(victim);
});

test.serial('etcd wiped (volume removed: the same cluster id, the revision back near 1) under load: the LB holds what it serves, every registrar re-registers, nothing fails', async (t) => {
  const status = async () => JSON.parse(await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'endpoint', 'status', '-w', 'json']))[0].Status.header;
  // Revisions the renderer watches go by (a record without a lease: refused, then deleted), so
  // that the wipe takes etcd's revision back below them whatever the registrars do first.
  for (let i = 0; i < 10; i++) {
    await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'put', '/nodes/webapp/wipe-test', 'x']);
    await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'del', '/nodes/webapp/wipe-test']);
  }
  const before = await status();
  const loads = underLoad();
  await sleep(1000);
  const live = await stack.webappIds();
  const wiped = Date.now();
  await stack.compose(['rm', '-sf', 'etcd']);
  await docker.getVolume(`${stack.project}_etcd-data`).remove();
  await stack.compose(['up', '-d', '--no-build', '--no-deps', 'etcd']);
  await waitFor(async () => {
    const recs = new Set((await stack.etcdRecords().catch(() => [])).map((r) => r.id));
    return live.every((h) => recs.has(h));
  }, 'every registrar back in the wiped etcd', 60000, 200);
  t.log(`every registrar back in etcd ${Date.now() - wiped} ms after the wipe began`);
  const after = await status();
  t.is(String(after.cluster_id), String(before.cluster_id), 'a wipe keeps the cluster id: only the revision tells');
  t.true(Number(after.revision) < Number(before.revision), `revision ${before.revision} → ${after.revision}`);
  t.deepEqual(await stack.converged(30000), live);
  const held = (await stack.logs('ha')).split('\n').filter((l) => l.includes('"state":"held"'));
  t.log(held.map((l) => l.slice(l.indexOf('{'))).join('\n'));
  t.true(held.some((l) => /revision went backwards/.test(l)), 'the renderer held on the backwards revision');
  await sleep(1000);
  await assertNoFailures(t, loads);
});

test.serial('disconnect a webapp from the network: its lease expires and it leaves; reconnect: it registers again', async (t) => {
  // A partitioned node answers nothing and refuses nothing: a sticky client's request sent to it
  // on a kept-alive server connection in the second or two before HAProxy's check marks it down
  // waits until that connection fails (seen: 5-10 s), then is retried elsewhere. Clients wait
  // 30 s here, as browsers wait far longer; the wait is logged (p99), not hidden.
  const loads = { 'keep-alive GET with cookies': startLoad(stack.url, { rps: 40, clients: 10, cookies: true, maxSeconds: 60, timeoutMs: 30000 }) };
  await sleep(1000);
  const victim = await webapp(0);
  const slot = await slotOf(victim.addr);
  const net = docker.getNetwork(`${stack.project}_default`);
  const cut = Date.now();
  await net.disconnect({ Container: victim.id, Force: true });
  const gone = await untilSlot(slot, victim.addr, (s) => s === undefined, cut, (TTL_S + 10) * 1000, 'partitioned node out of rotation');
  t.true(gone >= (TTL_S * 1000) / 3, `out of rotation after ${gone} ms: by lease expiry`);
  t.log(`partitioned node out of rotation after ${gone} ms`);
  t.false((await stack.etcdRecords()).some((r) => r.id === victim.hostname), 'its record expired');
  await net.connect({ Container: victim.id });
  const rejoined = Date.now();
  // It may come back at another address: the registrar looks its own up at each registration.
  const again = await stack.webapp(victim.id, true);
  await until(again.addr, (s) => s === 'UP', rejoined, 30000, 'reconnected node back and UP');
  t.log(`reconnected node UP again after ${Date.now() - rejoined} ms`);
  t.is((await stack.converged(30000)).length, 3);
  await sleep(1000);
  await assertNoFailures(t, loads);
});

/** The renderer's count of nodes held by fail static (its /health body), read inside the ha container. */
async function failStaticHeld(): Promise<number> {
  const r = await stack.exec('ha', ['bash', '-c', 'exec 3<>/dev/tcp/127.0.0.1/8405 && printf "GET /health HTTP/1.0\\r\\n\\r\\n" >&3 && cat <&3']);
  return JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))).failStaticHeld;
}

/** `docker exec` in one container; resolves with its exit code. */
function dockerExec(id: string, cmd: string[]): Promise<number> {
  return new Promise((resolve) => execFile('docker', ['exec', id, ...cmd], { timeout: 15000 }, (err) => resolve(err ? ((err as { code?: number }).code ?? 1) : 0)));
}

test.serial('every app stalled 2.5 s at once (SIGSTOP, as under overload) under keep-alive load: no request fails, no record is lost', async (t) => {
  await stack.scale(3);
  const ids = await stack.converged(60000);
  const revisionsBefore = new Map((await stack.etcdRecords()).map((r) => [r.id, r.registeredAt]));
  const loads = underLoad({ maxSeconds: 30 });
  await sleep(1500);
  const apps = (await stack.containers('webapp')).map((c) => c.Id);
  // s6 sends the app (not its registrar) SIGSTOP, and SIGCONT 2.5 s later: a stalled event loop.
  t.deepEqual(await Promise.all(apps.map((id) => dockerExec(id, ['s6-svc', '-p', '/etc/s6/app']))), apps.map(() => 0));
  await sleep(2500);
  t.deepEqual(await Promise.all(apps.map((id) => dockerExec(id, ['s6-svc', '-c', '/etc/s6/app']))), apps.map(() => 0));
  await sleep(3000);
  await assertNoFailures(t, loads);
  t.deepEqual(await stack.converged(15000), ids, 'the same nodes throughout');
  t.is(await failStaticHeld(), 0, 'nothing left to hold: no node went');
  // A record rewritten after a leave would carry a new registeredAt: none left.
  t.deepEqual(new Map((await stack.etcdRecords()).map((r) => [r.id, r.registeredAt])), revisionsBefore, 'no node left and came back');
});

test.serial('graceful scale 3 → 1 under load: both leavers out of rotation within 1 s (not held: they said goodbye), nothing fails', async (t) => {
  await stack.scale(3);
  await stack.converged(60000);
  const loads = underLoad({ maxSeconds: 30 });
  await sleep(1500);
  // Compose keeps the lowest-numbered containers when it scales down.
  const byNumber = (await stack.containers('webapp')).sort((a, b) => Number(a.Labels['com.docker.compose.container-number']) - Number(b.Labels['com.docker.compose.container-number']));
  const [keep, ...leavers] = await Promise.all(byNumber.map(async (c) => stack.webapp(c.Id)));
  const slots = await Promise.all(leavers.map((l) => slotOf(l.addr)));
  const started = Date.now();
  const scaled = stack.scale(1);
  const outs = await Promise.all(leavers.map((l, i) => untilSlot(slots[i]!, l.addr, (s) => s !== 'UP', started, 10000, `${l.hostname} out of rotation`)));
  t.log(`leavers out of rotation ${outs.join(', ')} ms after the scale began`);
  for (const ms of outs) t.true(ms <= 1000 + 2000, `out of rotation after ${ms} ms`); // compose's own stop takes part of it on a loaded CI
  await scaled;
  const converged = await stack.converged(30000).catch(async (err: Error) => {
    // What the renderer and the leavers' registrars said: which goodbye did not arrive, and why.
    const said = (text: string) => text.split('\n').filter((l) => /fail-static|"held"|leaving|revoke|stopping|signal/.test(l)).slice(-30).join('\n');
    t.log(said(await stack.logs('ha')));
    t.log(said(await stack.logs('webapp')));
    throw err;
  });
  t.deepEqual(converged, [keep!.hostname]);
  t.is(await failStaticHeld(), 0, 'a goodbye is never held');
  await assertNoFailures(t, loads);
  await stack.scale(3);
  await stack.converged(60000);
});
