import { execFileSync } from 'node:child_process';
import test from 'ava';
import { Etcd3 } from 'etcd3';
import { cliOptionsFromEnv } from '../../cli/args.js';
import type { Context } from '../../cli/context.js';
import { drain } from '../../cli/drain.js';
import { PermissionError } from '../../cli/errors.js';
import { CliStore } from '../../cli/store.js';
import { leasehold, leaseholdProc } from '../helpers/cli.js';
import { TestEtcd } from '../../harness/etcd.js';
import { TestHaproxy } from '../../harness/haproxy.js';
import { tags } from '../../harness/http.js';
import { freePort } from '../../harness/ports.js';
import { node as nodeProc } from '../../harness/process.js';
import { startApp, stopApp } from '../../harness/stack.js';
import { waitFor } from '../../harness/wait.js';

// The CLI against a real etcd on 127.0.0.1: what it writes and deletes, what it refuses, and
// how it fails. Most tests run no renderer (their renderer URL points at a port nobody listens
// on); the last one runs a real renderer and HAProxy beside two apps.
let etcd: TestEtcd;
let env: Record<string, string>;

const record = (id: string, over: Record<string, unknown> = {}) =>
  JSON.stringify({ id, service: 'webapp', address: '10.1.0.7', port: 3000, tag: id, weight: 100, state: 'up', registeredAt: new Date(Date.now() - 65000).toISOString(), ...over });

test.before(async () => {
  etcd = await TestEtcd.start();
  env = { ETCD_ENDPOINTS: etcd.endpoint, LEASEHOLD_RENDERERS: `http://127.0.0.1:${await freePort()}`, LEASEHOLD_USER: 'tester' };
  await etcd.putLeased('/nodes/webapp/n1', record('n1'));
  await etcd.putLeased('/nodes/webapp/n2', record('n2', { weight: 40 }));
});
test.after.always(() => etcd?.stop());

const value = async (key: string) => {
  const v = await etcd.client.get(key).string();
  return v === null ? null : JSON.parse(v);
};

test.serial('drain writes the operator key once; undrain deletes it; both say what they did', async (t) => {
  const before = Date.now();
  const d = await leasehold(['drain', 'webapp/n1'], env);
  t.is(d.code, 0, d.stderr);
  t.is(d.stdout, 'drained webapp/n1: no new sessions; sticky sessions finish (/leasehold/drain/webapp/n1)\n');
  const v = await value('/leasehold/drain/webapp/n1');
  t.is(v.by, 'tester');
  t.true(Date.parse(v.at) >= before - 1000 && Date.parse(v.at) <= Date.now());
  const kv = (await etcd.client.get('/leasehold/drain/webapp/n1').exec()).kvs[0]!;
  t.is(String(kv.lease), '0', 'on no lease: it outlives every registration');
  t.like(await value('/nodes/webapp/n1'), { id: 'n1', state: 'up', weight: 100 }, 'the record is not touched');

  const again = await leasehold(['drain', 'webapp/n1'], { ...env, LEASEHOLD_USER: 'someone-else' });
  t.is(again.code, 0);
  t.is(again.stdout, `webapp/n1 is already drained since ${v.at} by tester\n`);
  t.deepEqual(await value('/leasehold/drain/webapp/n1'), v, 'the first drain stays as written');

  const u = await leasehold(['undrain', 'webapp/n1'], env);
  t.is(u.code, 0);
  t.is(u.stdout, 'undrained webapp/n1: back in rotation\n');
  t.is(await value('/leasehold/drain/webapp/n1'), null);
  const u2 = await leasehold(['undrain', 'webapp/n1'], env);
  t.is(u2.code, 0, 'undrain is idempotent');
  t.is(u2.stdout, 'webapp/n1 was not drained\n');
});

test.serial('weight writes the override and --reset deletes it; the record keeps its own weight', async (t) => {
  const w = await leasehold(['weight', 'webapp/n2', '0'], env);
  t.is(w.code, 0, w.stderr);
  t.is(w.stdout, 'weight of webapp/n2 set to 0 (its registrar asks for 40): no new requests\n');
  t.like(await value('/leasehold/weight/webapp/n2'), { weight: 0, by: 'tester' });
  t.like(await value('/nodes/webapp/n2'), { weight: 40 });
  t.is((await leasehold(['weight', 'webapp/n2', '256'], env)).code, 0);
  t.like(await value('/leasehold/weight/webapp/n2'), { weight: 256 });
  const r = await leasehold(['weight', 'webapp/n2', '--reset'], env);
  t.is(r.code, 0);
  t.is(r.stdout, "weight of webapp/n2 reset: the registrar's weight (40) applies\n");
  t.is(await value('/leasehold/weight/webapp/n2'), null);
  t.is((await leasehold(['weight', 'webapp/n2', '--reset'], env)).stdout, 'webapp/n2 had no weight override\n');
});

test.serial('an unknown node is refused with exit 5 and nothing written, unless --force', async (t) => {
  for (const args of [['drain', 'webapp/typo'], ['weight', 'webapp/typo', '10'], ['undrain', 'webapp/typo'], ['weight', 'webapp/typo', '--reset'], ['drain', 'api/n1']]) {
    const r = await leasehold(args, env);
    t.is(r.code, 5, args.join(' '));
    t.is(r.stdout, '');
    t.regex(r.stderr, /^leasehold: unknown node (webapp\/typo|api\/n1): no record under the nodes prefix/);
  }
  t.regex((await leasehold(['drain', 'webapp/typo'], env)).stderr, /registered in that service: n1, n2 /);
  t.deepEqual((await etcd.client.getAll().prefix('/leasehold/').keys()), [], 'nothing written');

  const forced = await leasehold(['drain', 'webapp/typo', '--force'], env);
  t.is(forced.code, 0);
  t.truthy(await value('/leasehold/drain/webapp/typo'));
  // A drain left by a node that is gone can be removed without --force: the key names it.
  const u = await leasehold(['undrain', 'webapp/typo'], env);
  t.is(u.code, 0, u.stderr);
  t.is(await value('/leasehold/drain/webapp/typo'), null);
});

test.serial('status --json with no renderer: etcd columns, leases and ages, and the note', async (t) => {
  await leasehold(['drain', 'webapp/n1'], env);
  const r = await leasehold(['status', '--json'], env);
  t.is(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  t.deepEqual(s.nodes.map((n: { id: string }) => n.id), ['n1', 'n2']);
  const [n1] = s.nodes;
  t.like(n1, { service: 'webapp', address: '10.1.0.7', port: 3000, etcd: { registered: true, state: 'up' }, operator: { drained: true, drainedBy: 'tester' }, weight: { registrar: 100, effective: 100 }, lbs: [] });
  t.true(n1.etcd.ttl > 0 && n1.etcd.ttl <= 60, `lease TTL left ${n1.etcd.ttl} (granted 60)`);
  t.true(n1.etcd.ageSeconds >= 64 && n1.etcd.ageSeconds < 120, `age ${n1.etcd.ageSeconds}`);
  t.is(n1.etcd.lease, BigInt(String((await etcd.client.get('/nodes/webapp/n1').exec()).kvs[0]!.lease)).toString(16), 'the lease id in hex, as etcdctl prints it');
  t.deepEqual(s.backends, [{ service: 'webapp', nodes: 2, up: 1, drained: 1, draining: 0, sessions: 0, slots: [] }]);
  t.regex(s.notes[0], /^no renderer reachable \(http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);

  const text = await leasehold(['status', 'webapp'], env);
  t.is(text.code, 0);
  const lines = text.stdout.split('\n');
  t.is(lines[0], 'SERVICE\tNODE\tADDRESS\tETCD\tWEIGHT\tTTL\tAGE', 'a pipe: tab-separated, no colour');
  t.regex(lines[1]!, /^webapp\tn1\t10\.1\.0\.7:3000\tdrained\t100\t\d+s\t1m\d\ds$/);
  await leasehold(['undrain', 'webapp/n1'], env);
});

test.serial('drain --wait with no renderer to ask: the key is written, exit 1 after the timeout, saying so', async (t) => {
  const r = await leasehold(['drain', 'webapp/n2', '--wait', '--timeout', '1s'], env);
  t.is(r.code, 1);
  t.regex(r.stderr, /leasehold: the drain is written, but no renderer answered to wait on/);
  t.true(r.ms < 10000, `${r.ms} ms`);
  t.truthy(await value('/leasehold/drain/webapp/n2'));
  await leasehold(['undrain', 'webapp/n2'], env);
});

test.serial('etcd unreachable: a clear error and exit 3, fast, for every command', async (t) => {
  const down = { ...env, ETCD_ENDPOINTS: `http://127.0.0.1:${await freePort()}` };
  for (const args of [['status'], ['drain', 'webapp/n1'], ['undrain', 'webapp/n1'], ['weight', 'webapp/n1', '5'], ['watch']]) {
    const r = await leasehold(args, down);
    t.is(r.code, 3, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /^(note: .*\n)?leasehold: etcd unreachable at http:\/\/127\.0\.0\.1:\d+ \(connect ECONNREFUSED/);
    t.true(r.ms < 8000, `${args[0]} gave up after ${r.ms} ms`);
  }
});

test.serial('bad arguments: usage on stderr, exit 2, etcd never asked', async (t) => {
  const r = await leasehold(['drain', 'n1'], { ...env, ETCD_ENDPOINTS: 'http://127.0.0.1:1' });
  t.is(r.code, 2);
  t.is(r.stdout, '');
  t.regex(r.stderr, /^leasehold: "n1" is not a node: expected <service>\/<id>/);
  t.regex(r.stderr, /usage: leasehold drain <service>\/<id>/);
  const h = await leasehold(['drain', '--help'], env);
  t.is(h.code, 0);
  t.regex(h.stdout, /^usage: leasehold drain/);
  const o = await leasehold(['status'], { ...env, OPERATOR_PREFIX: '/nodes/x' });
  t.is(o.code, 2);
  t.regex(o.stderr, /OPERATOR_PREFIX and NODES_PREFIX must not contain one another/);
});

test.serial('watch without a renderer follows etcd: joins, leaves, drains and weights, until Ctrl-C (exit 0)', async (t) => {
  const w = leaseholdProc(['watch'], env);
  t.teardown(() => w.stop());
  await waitFor(() => w.lines.find((l) => l.startsWith('watching etcd: 2 nodes registered')), 'watch to start', 10000);
  t.regex(w.lines[0]!, /^note: no renderer reachable \(.*\): watching etcd directly \(\/nodes\/, \/leasehold\/\)/);
  await etcd.putLeased('/nodes/webapp/n3', record('n3'));
  await leasehold(['drain', 'webapp/n3'], env);
  await leasehold(['weight', 'webapp/n3', '7'], env);
  await leasehold(['weight', 'webapp/n3', '--reset'], env);
  await leasehold(['undrain', 'webapp/n3'], env);
  await etcd.client.delete().key('/nodes/webapp/n3').exec();
  const expected = ['joined     webapp/n3  10.1.0.7:3000  weight 100', 'drained    webapp/n3', 'weight     webapp/n3  7', "weight     webapp/n3  reset (the registrar's weight applies)", 'undrained  webapp/n3', 'left       webapp/n3  10.1.0.7:3000'];
  const events = await waitFor(() => {
    const got = w.lines.filter((l) => /^\d\d:\d\d:\d\d\.\d{3}  /.test(l)).map((l) => l.slice(14));
    return got.length >= expected.length ? got : undefined;
  }, 'six events', 10000);
  t.deepEqual(events, expected);
  w.signal('SIGINT');
  t.is(await w.exited, 0);
});

test.serial('a hostile record: status, status --json, a refusal naming it, and watch print no control or bidi character raw', async (t) => {
  // What a webapp container can write with its registrar's credentials: a record whose state
  // zod's message quotes back, and a key whose id is not a name at all.
  const hostile = '\x1b[2K\x1b[1A\u009b\u202e';
  const keys = ['/nodes/webapp/evil', `/nodes/webapp/x${hostile}`, '/nodes/webapp/evil2'];
  t.teardown(async () => {
    for (const key of keys) await etcd.client.delete().key(key).exec();
  });
  await etcd.putLeased(keys[0]!, record('evil', { state: `up${hostile}` }));
  await etcd.putLeased(keys[1]!, record('x'));
  /** Control and bidi characters besides the line breaks and tabs the CLI lays out with. */
  const unsafe = (text: string) => [...text].filter((c) => /[\p{Cc}\p{Bidi_Control}]/u.test(c) && c !== '\n' && c !== '\t');
  const escaped = "up\\x1b[2K\\x1b[1A\\x9b\\u202e";

  const text = await leasehold(['status'], env);
  t.is(text.code, 0, text.stderr);
  t.deepEqual(unsafe(text.stdout), []);
  t.true(text.stdout.includes(`received '${escaped}'`), text.stdout);

  const json = await leasehold(['status', '--json'], env);
  t.deepEqual(unsafe(json.stdout), []);
  t.regex(JSON.parse(json.stdout).nodes.find((n: { id: string }) => n.id === 'evil').etcd.invalid, /received 'up\x1b\[2K\x1b\[1A\u009b\u202e'/, 'the same value, parsed back');

  const refused = await leasehold(['drain', 'webapp/typo'], env);
  t.is(refused.code, 5);
  t.deepEqual(unsafe(refused.stderr), []);
  t.true(refused.stderr.includes('x\\x1b[2K\\x1b[1A\\x9b\\u202e'), refused.stderr);

  const w = leaseholdProc(['watch'], env);
  t.teardown(() => w.stop());
  await waitFor(() => w.lines.find((l) => l.startsWith('watching etcd:')), 'watch to start', 10000);
  await etcd.putLeased(keys[2]!, record('evil2', { state: `up${hostile}` }));
  const line = await waitFor(() => w.lines.find((l) => l.includes('invalid')), 'the invalid record in leasehold watch', 10000);
  t.deepEqual(unsafe(w.lines.join('\n')), []);
  t.true(line.includes(`received '${escaped}'`), line);
});

test.serial('no permission: etcd refuses the write, the CLI says so (a PermissionError: exit 4)', async (t) => {
  // A second etcd with auth on: a user who may read /nodes/ and /leasehold/ but write nothing.
  const secured = await TestEtcd.start();
  t.teardown(() => secured.stop());
  await secured.putLeased('/nodes/webapp/n1', record('n1'));
  const ctl = (...args: string[]) => execFileSync('etcdctl', ['--endpoints', secured.endpoint, ...args], { env: { ...process.env, ETCDCTL_API: '3' }, stdio: 'pipe' });
  ctl('user', 'add', 'root:rootpw', '--interactive=false');
  ctl('role', 'add', 'viewer');
  ctl('role', 'grant-permission', 'viewer', '--prefix=true', 'read', '/nodes/');
  ctl('role', 'grant-permission', 'viewer', '--prefix=true', 'read', '/leasehold/');
  ctl('user', 'add', 'viewer:viewerpw', '--interactive=false');
  ctl('user', 'grant-role', 'viewer', 'viewer');
  ctl('auth', 'enable');

  const attempt = async (auth: { username: string; password: string }) => {
    const client = new Etcd3({ hosts: [secured.endpoint], auth, dialTimeout: 2000 });
    const options = cliOptionsFromEnv({ ETCD_ENDPOINTS: secured.endpoint, LEASEHOLD_RENDERERS: env.LEASEHOLD_RENDERERS }, 'tester', 'box');
    const store = new CliStore(client, { endpoints: options.etcd.endpoints, nodesPrefix: options.nodesPrefix, operatorPrefix: options.operatorPrefix });
    const ctx: Context = { options, etcd: () => client, store: () => store, look: { tty: false, color: false }, out: () => undefined, err: () => undefined, now: Date.now, monotonic: () => performance.now(), interrupted: new AbortController().signal };
    try {
      return await drain({ name: 'drain', node: { service: 'webapp', id: 'n1' }, wait: false, timeoutMs: 1000, force: false }, ctx).catch((err: unknown) => err);
    } finally {
      client.close();
    }
  };
  const denied = await attempt({ username: 'viewer', password: 'viewerpw' });
  t.true(denied instanceof PermissionError, String(denied));
  t.regex((denied as Error).message, /^no permission to write \/leasehold\/drain\/webapp\/n1 \(.*permission denied.*\)/);
  const badPassword = await attempt({ username: 'viewer', password: 'wrong' });
  t.true(badPassword instanceof PermissionError, String(badPassword));
  t.regex((badPassword as Error).message, /authentication failed/);
});

test.serial('with a real renderer and HAProxy: drain --wait returns once DRAIN with 0 sessions; status and watch show it', async (t) => {
  const e = await TestEtcd.start();
  const ha = await TestHaproxy.start();
  const healthPort = await freePort();
  const renderer = nodeProc('renderer', 'renderer/main.js', { ETCD_ENDPOINTS: e.endpoint, ...ha.rendererEnv(), RENDERER_HEALTH_PORT: String(healthPort), RECONCILE_INTERVAL_MS: '1000', ALLOW_LOCAL_NODES: '1' });
  const apps = await Promise.all(['w1', 'w2'].map((tag) => startApp(tag, e.endpoint)));
  t.teardown(async () => {
    await Promise.all(apps.map(stopApp));
    await renderer.stop();
    await ha.stop();
    await e.stop();
  });
  const cli = { ETCD_ENDPOINTS: e.endpoint, LEASEHOLD_RENDERERS: `http://127.0.0.1:${healthPort}`, LEASEHOLD_USER: 'tester' };
  const status = async () => JSON.parse((await leasehold(['status', '--json'], cli)).stdout);
  const haproxyOf = (s: { nodes: { id: string; lbs: { haproxy?: { status: string } }[] }[] }, id: string) => s.nodes.find((n) => n.id === id)?.lbs[0]?.haproxy?.status;
  await waitFor(async () => {
    const s = await status();
    return haproxyOf(s, 'w1') === 'UP' && haproxyOf(s, 'w2') === 'UP';
  }, 'both nodes UP in leasehold status', 20000, 200);

  const w = leaseholdProc(['watch'], cli);
  t.teardown(() => w.stop());
  await waitFor(() => w.lines.find((l) => l === `following events from http://127.0.0.1:${healthPort}`), 'watch following the renderer', 10000);
  const d = await leasehold(['drain', 'webapp/w1', '--wait', '--timeout', '20s'], cli);
  t.is(d.code, 0, d.stderr);
  t.regex(d.stdout, /^drained webapp\/w1: no new sessions; sticky sessions finish \(\/leasehold\/drain\/webapp\/w1\)\nwebapp\/w1 drained: DRAIN, 0 sessions after \d+s\n$/);
  // Progress lines only, while it waits; none when the renderer applied the drain before the first poll.
  t.regex(d.stderr, /^(waiting: s\d+ [^\n]*\n)*$/);
  t.false((await tags(ha.url, 10)).includes('w1'), 'no new request to w1');
  const s = await status();
  const w1 = s.nodes.find((n: { id: string }) => n.id === 'w1');
  t.like(w1, { etcd: { registered: true, state: 'up' }, operator: { drained: true, drainedBy: 'tester' }, sessions: 0 });
  t.like(w1.lbs[0], { lb: 'LB1', state: 'drain', haproxy: { status: 'DRAIN', sessions: 0 } });
  t.like(s.renderers[0], { reachable: true, etcd: 'connected' });
  t.regex(s.renderers[0].haproxyVersion, /^2\.6\./);

  await waitFor(() => w.lines.find((l) => / drained {4}webapp\/w1$/.test(l)), 'the drain in leasehold watch', 10000);
  t.is((await leasehold(['undrain', 'webapp/w1'], cli)).code, 0);
  await waitFor(async () => haproxyOf(await status(), 'w1') === 'UP', 'w1 UP again', 10000, 200);
  await waitFor(() => w.lines.find((l) => / undrained  webapp\/w1$/.test(l)), 'the undrain in leasehold watch', 10000);
  t.false(w.lines.some((l) => l.startsWith('note:')), `no fallback, no reconnect: ${w.lines.join(' | ')}`);
});
