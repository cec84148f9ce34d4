import { Agent, request } from 'node:http';
import test, { type ExecutionContext } from 'ava';
import { docker, stackForFile } from '../../harness/compose.js';
import { cookies, get } from '../../harness/http.js';
import { type LoadResult, startLoad } from '../../harness/load.js';
import { sleep, waitFor } from '../../harness/wait.js';
import type { StatusReport } from '../../cli/report.js';

// The operator CLI on a compose stack, as an operator runs it: `docker compose exec ha leasehold
// ...` (and the etcd image's), under keep-alive loads through the LB. Every scenario checks that
// no request failed and puts the node back as it found it.
const TTL_S = 5;
const stack = stackForFile(test, { webapps: 3, env: { LEASE_TTL: String(TTL_S) } });

const leasehold = (...args: string[]) => stack.exec('ha', ['leasehold', ...args]);

async function status(): Promise<StatusReport> {
  const r = await leasehold('status', '--json');
  if (r.code !== 0) throw new Error(`leasehold status --json exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function webapp(index: number) {
  const c = (await stack.containers('webapp'))[index]!;
  return { container: docker.getContainer(c.Id), id: c.Id, ...(await stack.webapp(c.Id)) };
}

/** The stats row of the slot pointing at `addr`: the one holding the node, not a slot it is leaving (MAINT). */
async function row(addr: string) {
  const rows = (await stack.stats()).filter((r) => r.addr === addr);
  return rows.find((r) => r.status !== 'MAINT') ?? rows[0];
}

/** Keep-alive clients without cookies (every request balanced afresh) and keep-alive POSTs. */
function loads() {
  const started = Date.now();
  return {
    started,
    all: {
      'keep-alive GET': startLoad(stack.url, { rps: 30, clients: 10, maxSeconds: 60 }),
      'keep-alive POST': startLoad(stack.url, { rps: 10, clients: 5, post: true, maxSeconds: 60 }),
    } as Record<string, ReturnType<typeof startLoad>>,
  };
}

/** Tags of the answers to requests sent after `since` (ms since the epoch). */
function answeredBy(l: ReturnType<typeof loads>, since: number): string[] {
  return Object.values(l.all).flatMap((x) => x.samples.filter((s) => l.started + s.at >= since && s.status === 200).map((s) => s.tag ?? s.host ?? '?'));
}

async function assertNoFailures(t: ExecutionContext, l: ReturnType<typeof loads>): Promise<void> {
  for (const [name, load] of Object.entries(l.all)) {
    const r: LoadResult = await load.stop();
    for (const f of r.failed.slice(0, 10)) t.log(`${name}: failed at ${f.at} ms: status ${f.status} ${f.error ?? ''}`);
    t.is(r.failed.length, 0, `${name}: ${r.failed.length} of ${r.samples.length} requests failed`);
    t.log(`${name}: ${r.samples.length} requests, none failed, p50 ${r.p50} ms, p99 ${r.p99} ms`);
  }
}

/** Cookies that stick a client to `tag` (HAProxy's SERVERID), from fresh requests until one lands there. */
async function stickTo(tag: string): Promise<string> {
  return waitFor(async () => {
    const r = await get(stack.url);
    return r.body?.tag === tag ? cookies(r) : undefined;
  }, `an answer from ${tag}`, 15000, 10);
}

/** A sticky GET /stream of `seconds`: resolves with its lines, whether it completed, and when it ended. */
function stickyStream(cookie: string, seconds: number): Promise<{ lines: string[]; complete: boolean; endedAt: number; error?: string }> {
  return new Promise((resolve) => {
    let text = '';
    const done = (error?: string) => {
      const lines = text.split('\n').filter(Boolean);
      resolve({ lines, complete: !error && lines.at(-1)?.startsWith(`done ${seconds}`) === true, endedAt: Date.now(), error });
    };
    const req = request(new URL(`/stream?seconds=${seconds}`, stack.url), { agent: new Agent({ keepAlive: true }), headers: { cookie }, timeout: (seconds + 30) * 1000 }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('error', (e) => done(e.message));
      res.on('end', () => done());
    });
    req.on('error', (e) => done(e.message));
    req.end();
  });
}

test.serial('status --json agrees with the stats CSV and with etcdctl get --prefix /nodes', async (t) => {
  await stack.converged(30000);
  const [s, records, rows] = await Promise.all([status(), stack.etcdRecords(), stack.stats()]);
  t.deepEqual(s.renderers.map((r) => r.reachable), [true]);
  // compose.yml routes a second service (labelled): this test looks at webapp's rows.
  t.deepEqual(s.nodes.filter((n) => n.etcd.registered && n.service === 'webapp').map((n) => n.id).sort(), records.map((r) => r.id).sort(), 'one row per record');
  for (const rec of records) {
    const n = s.nodes.find((x) => x.id === rec.id)!;
    t.like(n, { service: rec.service, address: rec.address, port: rec.port, etcd: { state: rec.state, registeredAt: rec.registeredAt }, weight: { registrar: rec.weight, effective: rec.weight } });
    t.true(n.etcd.ttl! >= 1 && n.etcd.ttl! <= TTL_S, `${rec.id}: lease TTL left ${n.etcd.ttl}`);
    const csv = rows.find((r) => r.addr === `${rec.address}:${rec.port}`)!;
    t.truthy(csv, `${rec.id} is on the stats page`);
    t.like(n.lbs[0], { slot: csv.server, state: 'ready', haproxy: { status: csv.status, weight: csv.weight } });
  }
  t.like(s.backends.find((b) => b.service === 'webapp'), { service: 'webapp', nodes: records.length, slots: [{ used: records.length, total: rows.length }] });

  const text = await leasehold('status');
  t.is(text.code, 0);
  const lines = text.stdout.split('\n');
  t.is(lines[0], 'SERVICE\tNODE\tADDRESS\tSLOT\tETCD\tHAPROXY\tSESS\tWEIGHT\tTTL\tAGE', 'no terminal: tab-separated');
  t.is(lines.filter((l) => l.startsWith('webapp\t')).length, records.length);
  t.regex(lines.find((l) => l.startsWith('webapp: ')) ?? '', new RegExp(`^webapp: ${records.length} nodes \\(${records.length} up\\), \\d+ sessions?, slots ${records.length}/${rows.length} used$`));
});

test.serial('drain --wait under keep-alive load: a sticky stream finishes, then it returns; DRAIN on the stats page; new requests go elsewhere; undrain brings it back', async (t) => {
  const victim = await webapp(0);
  const slot = (await row(victim.addr))!.server;
  const cookie = await stickTo(victim.hostname);
  const l = loads();
  await sleep(1000);
  const stream = stickyStream(cookie, 4);
  await waitFor(async () => ((await row(victim.addr))?.scur ?? 0) >= 1, 'the stream holding a session on the node', 5000, 50);
  const asked = Date.now();
  const d = await leasehold('drain', `webapp/${victim.hostname}`, '--wait', '--timeout', '60s');
  const returned = Date.now();
  t.is(d.code, 0, d.stderr);
  t.log(`drain --wait returned after ${returned - asked} ms; stderr: ${d.stderr.trim().replace(/\n/g, ' | ')}`);
  t.regex(d.stdout, new RegExp(`^drained webapp/${victim.hostname}: no new sessions; sticky sessions finish \\(/leasehold/drain/webapp/${victim.hostname}\\)\\nwebapp/${victim.hostname} drained: DRAIN, 0 sessions after \\d+s\\n$`));
  t.regex(d.stderr, new RegExp(`waiting: ${slot} DRAIN, [1-9]\\d* sessions?\\n`), 'it saw the stream\'s session and waited for it');
  const s = await stream;
  t.true(s.complete, `the sticky stream completed on the drained node: ${s.error ?? ''} ${s.lines.join(' / ')}`);
  t.true(s.lines.every((x) => x.endsWith(victim.hostname)), 'the whole stream came from the drained node');
  t.true(returned >= s.endedAt - 1000, `--wait returned ${returned - s.endedAt} ms after the stream ended`);

  t.is((await row(victim.addr))?.status, 'DRAIN', 'the stats page shows DRAIN');
  const st = (await status()).nodes.find((n) => n.id === victim.hostname)!;
  t.like(st, { operator: { drained: true }, sessions: 0, etcd: { registered: true, state: 'up' } });
  t.like(st.lbs[0], { slot, state: 'drain', haproxy: { status: 'DRAIN', sessions: 0 } });
  await sleep(2000);
  const after = answeredBy(l, returned);
  t.true(after.length > 40, `${after.length} requests after the drain`);
  t.false(after.includes(victim.hostname), 'no new request reached the drained node');

  const u = await leasehold('undrain', `webapp/${victim.hostname}`);
  t.is(u.code, 0, u.stderr);
  t.is(u.stdout, `undrained webapp/${victim.hostname}: back in rotation\n`);
  const back = Date.now();
  await waitFor(async () => (await row(victim.addr))?.status === 'UP', 'UP again on the stats page', 10000, 50);
  await waitFor(() => answeredBy(l, back).includes(victim.hostname), 'requests reaching it again', 10000, 100);
  await assertNoFailures(t, l);
});

test.serial('a drained node whose container restarts (docker restart) comes back drained, never UP', async (t) => {
  const victim = await webapp(1);
  t.is((await leasehold('drain', `webapp/${victim.hostname}`)).code, 0);
  await waitFor(async () => (await row(victim.addr))?.status === 'DRAIN', 'DRAIN', 10000, 50);
  const before = (await stack.etcdRecords()).find((r) => r.id === victim.hostname)!;
  const l = loads();

  const seen = new Set<string>();
  let watching = true;
  let addr = victim.addr;
  const watcher = (async () => {
    while (watching) {
      for (const r of await stack.stats().catch(() => [])) if (r.addr === addr || r.addr === victim.addr) seen.add(r.status);
      await sleep(50);
    }
  })();
  const restarted = Date.now();
  await victim.container.restart({ t: 10 });
  addr = (await stack.webapp(victim.id, true)).addr;
  const rec = await waitFor(async () => (await stack.etcdRecords()).find((r) => r.id === victim.hostname && r.registeredAt !== before.registeredAt), 'a new registration after the restart', 30000, 100);
  await waitFor(async () => (await row(addr))?.status === 'DRAIN', 'its slot in DRAIN', 10000, 50);
  await sleep(3000); // a few reconciles after the re-registration
  watching = false;
  await watcher;
  t.log(`restart took ${Date.now() - restarted} ms; statuses seen for the node: ${[...seen].join(', ')}`);
  t.false([...seen].some((x) => /^UP/.test(x)), `never UP while drained: saw ${[...seen].join(', ')}`);
  t.true(Date.parse(rec.registeredAt) > Date.parse(before.registeredAt), 'a new registration, on a new lease');
  const st = (await status()).nodes.find((n) => n.id === victim.hostname)!;
  t.like(st, { address: addr.split(':')[0], operator: { drained: true }, etcd: { registered: true, state: 'up' } });
  t.like(st.lbs[0], { state: 'drain', haproxy: { status: 'DRAIN' } });
  t.false(answeredBy(l, restarted).includes(victim.hostname), 'no request reached it');

  t.is((await leasehold('undrain', `webapp/${victim.hostname}`)).code, 0);
  await waitFor(async () => (await row(addr))?.status === 'UP', 'UP after undrain', 10000, 50);
  await assertNoFailures(t, l);
  await stack.converged(30000);
});

test.serial('weight 0 sends a node no new requests; --reset gives it the registrar\'s weight back', async (t) => {
  const victim = await webapp(2);
  const l = loads();
  await sleep(1500);
  t.true(answeredBy(l, 0).includes(victim.hostname), 'it serves before');
  const w = await leasehold('weight', `webapp/${victim.hostname}`, '0');
  t.is(w.code, 0, w.stderr);
  t.is(w.stdout, `weight of webapp/${victim.hostname} set to 0 (its registrar asks for 100): no new requests\n`);
  await waitFor(async () => (await row(victim.addr))?.weight === 0, 'weight 0 on the stats page', 10000, 50);
  const applied = Date.now();
  await sleep(2500);
  const after = answeredBy(l, applied + 100);
  t.true(after.length > 40, `${after.length} requests after the weight`);
  t.false(after.includes(victim.hostname), 'no new request to a weight-0 node');
  const st = (await status()).nodes.find((n) => n.id === victim.hostname)!;
  t.like(st, { weight: { registrar: 100, override: 0, effective: 0 }, operator: { drained: false, weight: 0 } });
  t.like(st.lbs[0], { state: 'ready', haproxy: { weight: 0 } });
  t.regex(st.lbs[0]!.haproxy!.status, /^UP/, 'weight 0 is not a drain: the server stays UP');

  const r = await leasehold('weight', `webapp/${victim.hostname}`, '--reset');
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout, `weight of webapp/${victim.hostname} reset: the registrar's weight (100) applies\n`);
  await waitFor(async () => (await row(victim.addr))?.weight === 100, 'weight 100 again', 10000, 50);
  const reset = Date.now();
  await waitFor(() => answeredBy(l, reset).includes(victim.hostname), 'requests reaching it again', 10000, 100);
  await assertNoFailures(t, l);
});

test.serial('errors keep their exit codes; the etcd image has no second CLI (one implementation: the ha image\'s)', async (t) => {
  const victim = await webapp(0);
  const unknown = await stack.exec('ha', ['leasehold', 'drain', 'webapp/nope']);
  t.is(unknown.code, 5, unknown.stderr);
  t.regex(unknown.stderr, /^leasehold: unknown node webapp\/nope: no record under the nodes prefix; registered in that service: /);
  const bad = await stack.exec('ha', ['leasehold', 'weight', `webapp/${victim.hostname}`, '300']);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^leasehold: "300" is not a weight: an integer from 0 to 256\n\nusage: leasehold weight/);
  const away = await stack.exec('ha', ['env', 'ETCD_ENDPOINTS=https://127.0.0.1:1', 'leasehold', 'drain', `webapp/${victim.hostname}`]);
  t.is(away.code, 3, away.stderr);
  t.regex(away.stderr, /^leasehold: etcd unreachable at https:\/\/127\.0\.0\.1:1 /);
  t.not((await stack.exec('etcd', ['sh', '-c', 'command -v leasehold'])).code, 0, 'no leasehold in the etcd image');
});
