// The registrar's state machine against an in-memory etcd, a switchable app and a fake clock.
// Assertions are on what etcd holds and on the registrar's typed events.
import test, { type ExecutionContext } from 'ava';
import { EtcdRefusedError, EtcdUnavailableError } from '../../common/errors.js';
import { registrarOptionsFromEnv } from '../../registrar/options.js';
import { Registrar, type RegistrarEvents } from '../../registrar/registrar.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeLeaseStore } from '../helpers/fake-lease-store.js';

const KEY = '/nodes/webapp/node-1';
const TTL_MS = 3000;

function setup(t: ExecutionContext, o: { healthy?: boolean; env?: Record<string, string>; start?: boolean } = {}) {
  const clock = new FakeClock();
  const etcd = new FakeLeaseStore(clock);
  // answerMs: how long the app takes to answer a check (Infinity: never); stalledUntil: a check
  // started before then is answered then; script: the answers of the next checks, then `healthy`.
  // Like a stalled app, it answers when it can, whether or not the registrar still waits: it does
  // not heed the signal.
  const app = { healthy: o.healthy ?? true, checks: [] as number[], abandoned: [] as number[], answerMs: 0, stalledUntil: 0, script: [] as boolean[], address: '10.0.0.9' };
  const options = registrarOptionsFromEnv({ NODE_ID: 'node-1', LEASE_TTL: String(TTL_MS / 1000), ...o.env }, 'host');
  const registrar = new Registrar(options, {
    store: etcd,
    appHealthy: async (signal?: AbortSignal) => {
      app.checks.push(clock.monotonic());
      signal?.addEventListener('abort', () => app.abandoned.push(clock.monotonic()), { once: true });
      const answer = app.script.shift() ?? app.healthy;
      if (app.answerMs > 0) await clock.sleep(app.answerMs);
      if (app.stalledUntil > clock.monotonic()) await clock.sleep(app.stalledUntil - clock.monotonic());
      return answer;
    },
    ownAddress: () => app.address,
    clock,
    random: () => 0,
  });
  const events: { name: keyof RegistrarEvents; e: any; at: number }[] = [];
  for (const name of ['state', 'retry', 'check', 'keepaliveFailed', 'repaired', 'revokeFailed'] as const) registrar.on(name, (e: any) => events.push({ name, e, at: clock.monotonic() }));
  const states = () => events.filter((x) => x.name === 'state').map((x) => x.e.state as string);
  const of = (name: keyof RegistrarEvents) => events.filter((x) => x.name === name).map((x) => x.e);
  /** When the registrar entered `state` last, monotonic ms. */
  const entered = (state: string) => events.filter((x) => x.name === 'state' && x.e.state === state).at(-1)?.at;
  t.teardown(() => registrar.stop());
  if (o.start ?? true) registrar.start();
  const registered = () => clock.until(() => (registrar.state === 'registered' ? etcd.stored(KEY) : undefined), 'registration');
  return { clock, etcd, app, registrar, states, of, entered, registered };
}

test('waits for the app, polling every WAIT_CHECK_INTERVAL_MS, then registers its record on its own lease at once', async (t) => {
  const { clock, etcd, app, registrar, registered } = setup(t, { healthy: false });
  await clock.advance(1000);
  t.is(registrar.state, 'waiting');
  t.deepEqual(etcd.calls, ['get', 'grant'], 'while the app does not answer: one read that logs in, and the lease the record will go on; no record');
  t.is(etcd.stored(KEY), undefined);
  // Every 25 ms at first, 1% of the wait more each time: 25 ms, then up to 35 ms at 1 s.
  t.true(app.checks.length >= 1000 / 35 && app.checks.length <= 1000 / 25 + 1, `${app.checks.length} checks in 1 s`);
  app.healthy = true;
  const answeredAt = clock.monotonic();
  const stored = await registered();
  t.true(clock.monotonic() - answeredAt <= 35, `registered ${clock.monotonic() - answeredAt} ms after the app answered`);
  t.deepEqual(etcd.calls, ['get', 'grant', 'put']);
  t.is(registrar.leaseId, stored.leaseId);
  const value = JSON.parse(stored.value);
  t.deepEqual(value, {
    id: 'node-1', service: 'webapp', address: '10.0.0.9', port: 3000, tag: 'node-1', weight: 100, state: 'up', registeredAt: value.registeredAt,
  });
  t.true(Date.parse(value.registeredAt) <= clock.wall() && Date.parse(value.registeredAt) >= clock.wall() - 35, 'dated at its put');
  t.true(registrar.healthy);
});

test('an app that never answers: polled ever less often, down to CHECK_INTERVAL_MS, and reported every 10 s', async (t) => {
  const { clock, app, registrar } = setup(t, { healthy: false });
  const reports: number[] = [];
  registrar.on('waiting', (e) => reports.push(Math.floor(e.forMs / 10000) * 10));
  await clock.advance(120000);
  const before = app.checks.length;
  await clock.advance(10000);
  t.is(app.checks.length - before, 10, 'once a second after 100 s');
  t.deepEqual(reports.slice(0, 12), [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120], 'one report per 10 s waited');
  t.true(reports.length <= 13);
  t.is(registrar.state, 'waiting');
});

test('once registered the app is checked every CHECK_INTERVAL_MS, not at the waiting pace', async (t) => {
  const { clock, app, registered } = setup(t);
  await registered();
  const before = app.checks.length;
  await clock.advance(5000);
  t.is(app.checks.length - before, 5);
});

test('keeps the lease alive every TTL/3 and verifies the record every TTL: the same lease for 10 TTLs', async (t) => {
  const { clock, etcd, registrar, states, registered } = setup(t);
  const first = (await registered()).leaseId;
  const calls = etcd.calls.length;
  await clock.advance(10 * TTL_MS);
  t.is(etcd.stored(KEY)?.leaseId, first);
  t.is(registrar.leaseId, first);
  const later = etcd.calls.slice(calls);
  t.is(later.filter((c) => c === 'keepAlive').length, 30);
  t.is(later.filter((c) => c === 'get').length, 10);
  t.deepEqual(states(), ['registering', 'registered']);
});

test('a slow app never delays a keepalive: with checks answered after 1.5 s, the lease is renewed every TTL/3 on the dot', async (t) => {
  const { clock, etcd, app, states, registered } = setup(t);
  const lease = (await registered()).leaseId;
  app.answerMs = 1500; // under CHECK_TIMEOUT_MS (2 s): every check passes, late
  const from = clock.monotonic();
  await clock.advance(10 * TTL_MS);
  const renewals = etcd.times('keepAlive').filter((at) => at > from);
  const gaps = renewals.slice(1).map((at, i) => at - renewals[i]!);
  t.is(renewals.length, 30);
  t.true(gaps.every((g) => g === TTL_MS / 3), `gaps between keepalives: ${gaps.join(', ')} ms`);
  t.true(app.checks.filter((at) => at > from).length >= 15, 'the app was checked meanwhile');
  t.is(etcd.stored(KEY)?.leaseId, lease);
  t.deepEqual(states(), ['registering', 'registered']);
});

test('a check the app never answers is given up after CHECK_TIMEOUT_MS (its signal aborts), and the next one starts then', async (t) => {
  const { clock, app, registered } = setup(t, { env: { CHECK_TIMEOUT_MS: '1500' } });
  await registered();
  app.answerMs = Infinity;
  const from = clock.monotonic();
  await clock.advance(10000);
  const started = app.checks.filter((at) => at > from);
  t.true(started.length >= 6, `${started.length} checks in 10 s`);
  t.deepEqual(started.slice(1).map((at, i) => at - started[i]!), started.slice(1).map(() => 1500), 'back to back: each starts as the last is given up');
  const givenUp = started.map((at) => at + 1500).filter((at) => at <= clock.monotonic());
  t.deepEqual(app.abandoned.filter((at) => at > from), givenUp, 'each told to give up 1.5 s after it started');
});

test('the wall clock stepped back an hour, then forward two: keepalives and checks keep their pace (monotonic time); records are dated by the wall clock', async (t) => {
  const { clock, etcd, app, registrar, states, registered } = setup(t);
  const first = (await registered()).leaseId;
  for (const step of [-3600_000, 2 * 3600_000]) {
    clock.stepWall(step);
    const [calls, checks] = [etcd.calls.length, app.checks.length];
    await clock.advance(3 * TTL_MS);
    t.is(etcd.calls.slice(calls).filter((c) => c === 'keepAlive').length, 9, `a keepalive every TTL/3 after a step of ${step} ms, no more, no less`);
    t.is(app.checks.length - checks, 9, `a check every CHECK_INTERVAL_MS after a step of ${step} ms`);
    t.is(etcd.stored(KEY)?.leaseId, first);
    t.true(registrar.healthy);
  }
  t.deepEqual(states(), ['registering', 'registered']);
  etcd.drop(first);
  const again = await registered();
  const at = Date.parse(JSON.parse(again.value).registeredAt);
  t.true(at <= clock.wall() && at >= clock.wall() - TTL_MS, `registeredAt ${new Date(at).toISOString()} is wall time (${new Date(clock.wall()).toISOString()})`);
});

test('a lost lease (expired, revoked) is noticed at the next keepalive and replaced by a new one', async (t) => {
  const { clock, etcd, registrar, states, registered } = setup(t);
  const first = (await registered()).leaseId;
  etcd.drop(first);
  await clock.advance(TTL_MS / 3);
  const second = await registered();
  t.not(second.leaseId, first);
  t.is(registrar.leaseId, second.leaseId);
  t.deepEqual(states(), ['registering', 'registered', 'registering', 'registered']);
});

for (const [what, tamper, found] of [
  ['deleted (etcdctl del)', (e: FakeLeaseStore) => e.keys.delete(KEY), 'missing'],
  ['overwritten with another value', (e: FakeLeaseStore) => e.keys.set(KEY, { ...e.keys.get(KEY)!, value: '{"forged":true}' }), 'other value'],
  ['moved to another lease', (e: FakeLeaseStore) => e.keys.set(KEY, { ...e.keys.get(KEY)!, leaseId: '0' }), 'other lease'],
] as const) {
  test(`a record ${what} behind its back is rewritten on its own lease within a TTL`, async (t) => {
    const { clock, etcd, registrar, of, registered } = setup(t);
    const mine = await registered();
    const value = mine.value;
    tamper(etcd);
    await clock.advance(TTL_MS);
    t.deepEqual(etcd.stored(KEY), { value, leaseId: registrar.leaseId! });
    t.deepEqual(of('repaired'), [{ found, leaseId: registrar.leaseId }]);
  });
}

test('a new own address (container reconnected) is written at the next verification', async (t) => {
  const { clock, etcd, app, registered } = setup(t);
  await registered();
  app.address = '10.0.0.10';
  await clock.advance(TTL_MS);
  t.is(JSON.parse(etcd.stored(KEY)!.value).address, '10.0.0.10');
});

test('etcd unreachable at the start: retries with growing, capped backoff, then registers', async (t) => {
  const { clock, etcd, registrar, of } = setup(t, { start: false });
  etcd.down = true;
  registrar.start();
  await clock.advance(30000);
  t.is(registrar.state, 'registering');
  // random = 0: each delay is half its ceiling (200 ms doubling, up to 5 s).
  t.deepEqual(of('retry').slice(0, 7).map((e) => e.delayMs), [100, 200, 400, 800, 1600, 2500, 2500]);
  t.true(of('retry').every((e) => e.retryable && e.error.name === 'EtcdUnavailableError'));
  etcd.down = false;
  await clock.advance(2500);
  t.is(registrar.state, 'registered');
  t.truthy(etcd.stored(KEY));
});

test('an error etcd will repeat (a request too large) is not retried sooner than the longest backoff', async (t) => {
  const { clock, etcd, registrar, of } = setup(t, { start: false });
  etcd.failNext('put', new EtcdRefusedError('etcdserver: request is too large', 400, 3));
  registrar.start();
  await clock.advance(0);
  t.like(of('retry')[0], { retryable: false, delayMs: 2500 });
  await clock.advance(2499);
  t.is(registrar.state, 'registering');
  await clock.advance(1);
  t.is(registrar.state, 'registered');
});

test('a lease someone attached a key to while the app started (etcd denies our put on it) is dropped, and the record put on a new lease at once', async (t) => {
  const { clock, etcd, app, registrar, of, registered } = setup(t, { healthy: false });
  await clock.advance(100);
  const warm = registrar.leaseId!;
  etcd.foreignKeyOn.add(warm); // e.g. another service's registrar: lease ids are no secret
  app.healthy = true;
  const answeredAt = clock.monotonic();
  const stored = await registered();
  t.true(clock.monotonic() - answeredAt <= 200, `registered ${clock.monotonic() - answeredAt} ms after the app answered`);
  t.not(stored.leaseId, warm);
  t.like(of('retry')[0], { retryable: true, delayMs: 100 });
  t.is(of('retry')[0].error.name, 'LeaseRefusedError');
  t.like(of('revokeFailed')[0], { leaseId: warm }, 'its revoke is refused too: it is left to expire');
});

test('a rewrite etcd denies on our registered lease (someone attached a key to it) moves the record to a new lease', async (t) => {
  const { clock, etcd, registrar, states, registered } = setup(t);
  const first = (await registered()).leaseId;
  etcd.foreignKeyOn.add(first);
  etcd.keys.delete(KEY); // the record needs a rewrite (etcdctl del); on this lease it is refused
  await clock.advance(TTL_MS);
  const again = await registered();
  t.not(again.leaseId, first);
  t.is(registrar.leaseId, again.leaseId);
  t.deepEqual(states(), ['registering', 'registered', 'registering', 'registered']);
});

test('a put etcd denies for our own key (the role lacks it): one new lease rules out a foreign key, then the longest backoff; no lease left behind', async (t) => {
  const { clock, etcd, registrar, of } = setup(t, { start: false });
  etcd.deniedKeys.add(KEY);
  registrar.start();
  await clock.advance(10000);
  t.is(registrar.state, 'registering');
  const retries = of('retry');
  t.like(retries[0], { retryable: true, delayMs: 100 }, 'the warm-up lease might carry a foreign key: a new one at once');
  t.true(retries.length >= 4 && retries.slice(1).every((e) => !e.retryable && e.delayMs === 2500 && /permission denied/.test(e.error.message)), 'refused on a lease granted for the attempt: our key');
  t.is(etcd.leases.size, 0, 'each refused lease revoked');
  t.is(etcd.stored(KEY), undefined);
  etcd.deniedKeys.delete(KEY); // the role is fixed
  await clock.advance(2500);
  t.is(registrar.state, 'registered');
});

test('a put that failed after its grant reuses the granted lease: no lease is leaked', async (t) => {
  const { clock, etcd, registrar } = setup(t, { start: false });
  etcd.failNext('put', new EtcdUnavailableError('connection reset', 'http://e:2379'));
  registrar.start();
  await clock.advance(1000);
  t.is(registrar.state, 'registered');
  t.deepEqual(etcd.calls.slice(0, 4), ['get', 'grant', 'put', 'put']);
  t.is(etcd.leases.size, 1);
});

test('a lease taken while the app starts is used by the put when fresh, and left to expire when older than TTL/2', async (t) => {
  const fresh = setup(t, { healthy: false });
  await fresh.clock.advance(1000);
  fresh.app.healthy = true;
  const stored = await fresh.registered();
  t.deepEqual(fresh.etcd.calls, ['get', 'grant', 'put'], 'one write after the app answered');
  t.is(fresh.registrar.leaseId, stored.leaseId);
  const slow = setup(t, { healthy: false });
  await slow.clock.advance(30000); // the app takes longer than TTL/2 (TTL 3 s here)
  slow.app.healthy = true;
  const late = await slow.registered();
  t.deepEqual(slow.etcd.calls.filter((c) => c !== 'keepAlive'), ['get', 'grant', 'grant', 'put'], 'a new lease: the first may have expired');
  t.is(slow.registrar.leaseId, late.leaseId);
  t.is(slow.etcd.leases.size, 1, 'the first lease expired on its own (TTL), the record is on the second');
});

test('a warm-up read that fails (etcd not up yet) delays nothing: the registrar registers when etcd answers', async (t) => {
  const { clock, etcd, registrar, registered } = setup(t, { start: false });
  etcd.failNext('get', new EtcdUnavailableError('connection refused', 'http://e:2379'));
  const startedAt = clock.monotonic();
  registrar.start();
  await registered();
  t.true(clock.monotonic() - startedAt <= 25, `registered ${clock.monotonic() - startedAt} ms after start`);
  t.deepEqual(etcd.calls.slice(0, 3), ['get', 'grant', 'put']);
});

test('etcd down and restarted on its data: the lease survives and is kept; nothing re-registers', async (t) => {
  const { clock, etcd, registrar, states, of, registered } = setup(t);
  const first = (await registered()).leaseId;
  etcd.down = true;
  await clock.advance(3 * TTL_MS);
  t.true(of('keepaliveFailed').length >= 3);
  t.false(registrar.healthy, 'not confirmed for more than a TTL: /health says so');
  etcd.restart();
  await clock.advance(TTL_MS / 3);
  t.true(registrar.healthy);
  t.is(etcd.stored(KEY)?.leaseId, first);
  t.deepEqual(states(), ['registering', 'registered']);
});

test('etcd out of reach longer than the TTL (partition): re-registers on a new lease as soon as it answers', async (t) => {
  const { clock, etcd, registrar, states, registered } = setup(t);
  const first = (await registered()).leaseId;
  etcd.partitioned = true;
  await clock.advance(2 * TTL_MS);
  t.is(etcd.stored(KEY), undefined, 'etcd expired the lease meanwhile');
  etcd.partitioned = false;
  await clock.advance(TTL_MS / 3);
  const second = await registered();
  t.not(second.leaseId, first);
  t.is(registrar.leaseId, second.leaseId);
  t.deepEqual(states(), ['registering', 'registered', 'registering', 'registered']);
});

test('failing checks: the node stays through CHECK_FALL - 1 (2) in a row, a pass ends the run; the 3rd in a row revokes its lease, 2 intervals after the 1st', async (t) => {
  const { clock, etcd, app, registrar, states, of, entered, registered } = setup(t);
  const first = (await registered()).leaseId;
  app.script.push(false, false, true);
  await clock.until(() => of('check').length === 3, 'two failed checks and the pass that ends the run');
  t.deepEqual(of('check').map((e) => [e.passed, e.inRow, e.needed]), [[false, 1, 3], [false, 2, 3], [true, 0, 3]]);
  t.is(etcd.stored(KEY)?.leaseId, first, 'still in, on the same lease');
  const from = clock.monotonic();
  app.healthy = false;
  await clock.until(() => registrar.state === 'deregistered', 'leaving');
  const failing = app.checks.filter((at) => at > from);
  t.is(failing.length, 3);
  t.is(entered('deregistered')! - failing[0]!, 2 * 1000, 'out at the 3rd failure: 2 × CHECK_INTERVAL_MS after the 1st');
  t.deepEqual(of('check').slice(3).map((e) => [e.passed, e.inRow]), [[false, 1], [false, 2], [false, 3]]);
  t.is(etcd.stored(KEY), undefined);
  t.is(etcd.leases.size, 0, 'revoked');
  t.deepEqual(states(), ['registering', 'registered', 'deregistered']);
});

test('out after failing: back after CHECK_RISE (2) passes in a row, on a new lease; a failure in between starts the count over', async (t) => {
  const { clock, etcd, app, registrar, states, of, registered } = setup(t, { env: { CHECK_FALL: '1' } });
  const first = (await registered()).leaseId;
  app.script.push(false);
  await clock.until(() => registrar.state === 'deregistered', 'leaving at the first failure (CHECK_FALL=1)');
  const out = of('check').length;
  app.script.push(true, false, true, true);
  const back = await clock.until(() => (registrar.state === 'registered' ? etcd.stored(KEY) : undefined), 'registered again');
  t.deepEqual(of('check').slice(out).map((e) => [e.passed, e.inRow, e.needed]), [[true, 1, 2], [false, 0, 2], [true, 1, 2], [true, 2, 2]]);
  t.not(back.leaseId, first);
  t.deepEqual(states(), ['registering', 'registered', 'deregistered', 'registering', 'registered']);
});

test('a stall of 2.5 s costs nothing with the default check settings, whatever its phase against the checks', async (t) => {
  let failed = 0;
  for (let phase = 0; phase < 1000; phase += 100) {
    const { clock, etcd, app, registrar, states, of, registered } = setup(t);
    const lease = (await registered()).leaseId;
    await clock.advance(phase);
    app.stalledUntil = clock.monotonic() + 2500;
    await clock.advance(2500 + 3000);
    t.is(etcd.stored(KEY)?.leaseId, lease, `phase ${phase}: same record, same lease`);
    t.deepEqual(states(), ['registering', 'registered'], `phase ${phase}`);
    t.true(of('check').every((e) => e.inRow <= 1), `phase ${phase}: at most one failure in a row`);
    failed += of('check').filter((e) => !e.passed).length;
    await registrar.stop();
  }
  t.true(failed > 0, 'some checks caught the stall: it was seen, and ridden out');
});

test('an app that stops answering leaves within INTERVAL + (FALL - 1) × max(INTERVAL, TIMEOUT) + TIMEOUT (7 s), its keepalives on time until then', async (t) => {
  const { clock, etcd, app, registrar, of, entered, registered } = setup(t);
  await registered();
  await clock.advance(500); // between two checks
  const hungAt = clock.monotonic();
  app.answerMs = Infinity;
  await clock.until(() => registrar.state === 'deregistered', 'leaving', 20000);
  const left = entered('deregistered')!;
  t.true(left - hungAt <= 1000 + 2 * 2000 + 2000 && left - hungAt >= 3 * 2000, `left ${left - hungAt} ms after the app hung, after three checks of 2 s`);
  t.deepEqual(of('check').map((e) => [e.passed, e.timedOut, e.inRow]), [[false, true, 1], [false, true, 2], [false, true, 3]]);
  const renewals = [...etcd.times('keepAlive').filter((at) => at <= hungAt).slice(-1), ...etcd.times('keepAlive').filter((at) => at > hungAt && at < left)];
  t.true(renewals.length >= 6);
  t.deepEqual(renewals.slice(1).map((at, i) => at - renewals[i]!), renewals.slice(1).map(() => TTL_MS / 3), 'a keepalive every TTL/3');
});

test('stop() revokes the lease: no key, no lease; leaving -> stopped; a second stop() is harmless', async (t) => {
  const { etcd, registrar, states, registered } = setup(t);
  await registered();
  await Promise.all([registrar.stop(), registrar.stop()]);
  t.is(etcd.keys.size, 0);
  t.is(etcd.leases.size, 0);
  t.deepEqual(states(), ['registering', 'registered', 'leaving', 'stopped']);
  t.is(etcd.calls.filter((c) => c === 'revoke').length, 1);
});

test('stop() says goodbye first: the record on its lease marked leaving, then the revoke (the renderer applies a graceful leave at once)', async (t) => {
  const { etcd, registrar, registered } = setup(t);
  await registered();
  const from = etcd.calls.length;
  await registrar.stop();
  t.deepEqual(etcd.calls.slice(from), ['put', 'revoke']);
  t.like(JSON.parse(etcd.puts.at(-1)!), { state: 'leaving' });
  t.is(etcd.keys.size, 0);
});

test('a node that fails its checks leaves without the graceful mark: the renderer may hold it (fail static)', async (t) => {
  const { clock, etcd, registrar, registered, app } = setup(t);
  await registered();
  app.healthy = false;
  await clock.until(() => registrar.state === 'deregistered', 'deregistered');
  t.false(etcd.puts.some((v) => JSON.parse(v).state === 'leaving'));
});

// In flight when stop() comes: the warm-up's grant, the put, or the registration attempt's own
// grant (the warm-up's read failed, so it took no lease).
const IN_FLIGHT = { grant: 'grant', put: 'put', attempt: "the attempt's own grant (the warm-up took none)" } as const;
for (const inFlight of ['grant', 'put', 'attempt'] as const) {
  test(`stop during registration (${IN_FLIGHT[inFlight]} in flight, landing after stop()) leaves no key and no lease behind`, async (t) => {
    const { clock, etcd, registrar } = setup(t, { start: false });
    if (inFlight === 'attempt') etcd.failNext('get', new EtcdUnavailableError('not up yet', 'http://fake:2379'));
    const held = etcd.hold(inFlight === 'put' ? 'put' : 'grant');
    registrar.start();
    if (inFlight === 'attempt') await clock.until(() => (registrar.state === 'registering' ? true : undefined), 'registering');
    await held.reached;
    const stopped = registrar.stop();
    await clock.settle();
    held.release();
    await stopped;
    await clock.advance(10 * TTL_MS);
    t.is(etcd.keys.size, 0, 'no key');
    t.is(etcd.leases.size, 0, 'no lease: the one granted in flight was revoked');
    t.is(registrar.state, 'stopped');
    if (inFlight !== 'put') t.false(etcd.calls.includes('put'), 'no put after stop()');
    if (inFlight === 'attempt') t.deepEqual(etcd.calls.filter((c) => c === 'grant' || c === 'put'), ['grant'], "one grant, the attempt's");
  });
}

test('stop while etcd is unreachable: reports the lease left to expire, and still stops', async (t) => {
  const { etcd, registrar, of, registered } = setup(t);
  const lease = (await registered()).leaseId;
  etcd.partitioned = true;
  await registrar.stop();
  t.is(registrar.state, 'stopped');
  t.like(of('revokeFailed')[0], { leaseId: lease });
});
