import test from 'ava';
import { type Outcome, WorkQueue, type WorkQueueOptions } from '../../renderer/work-queue.js';
import { FakeTimers, settle } from '../helpers/fake-timers.js';

type Key = 'a' | 'b' | 'c';

/** One handler call, held until the test finishes or fails it. */
interface Call {
  key: Key;
  at: number;
  finish: (o?: Outcome) => void;
  fail: (err: unknown) => void;
}

/** A queue whose handlers are held (default) or answer at once with `answer(key)`. */
function setup(options: Partial<WorkQueueOptions<Key>> = {}, answer?: (key: Key) => Outcome) {
  const timers = new FakeTimers();
  const calls: Call[] = [];
  /** The calls under way (not finished): what runs at once. */
  const open = new Set<Call>();
  const handler = (key: Key) =>
    new Promise<Outcome>((resolve, reject) => {
      const c: Call = { key, at: timers.now, finish: (o) => (open.delete(c), resolve(o)), fail: (e) => (open.delete(c), reject(e)) };
      calls.push(c);
      open.add(c);
      if (answer) c.finish(answer(key));
    });
  const q = new WorkQueue<Key>({ a: handler, b: handler, c: handler }, { baseDelayMs: 100, maxDelayMs: 1000, jitter: 0, timers, now: () => timers.now, ...options });
  /** Start times of one key's runs, or `key@time` of every run. */
  const runs = (key?: Key) => calls.filter((c) => !key || c.key === key).map((c) => (key ? c.at : `${c.key}@${c.at}`));
  return { timers, calls, q, runs, open };
}

test('a key queued twice runs once', async (t) => {
  const { q, calls, runs } = setup({}, () => undefined);
  q.add('a');
  q.add('a');
  t.is(q.depth, 1);
  await settle();
  t.deepEqual(runs(), ['a@0']);
  t.is(calls.length, 1);
  t.false(q.pending('a'));
});

test('a key added while it runs runs exactly once more after', async (t) => {
  const { q, calls, runs } = setup();
  q.add('a');
  await settle();
  q.add('a');
  q.add('a');
  await settle();
  t.is(calls.length, 1, 'never beside itself');
  t.is(q.depth, 1);
  calls[0]!.finish();
  await settle();
  t.is(calls.length, 2);
  calls[1]!.finish();
  await settle();
  t.deepEqual(runs(), ['a@0', 'a@0']);
  t.false(q.pending('a'));
});

test('a failure retries after a back-off that doubles and is capped at maxDelayMs', async (t) => {
  const { q, timers, runs } = setup({ baseDelayMs: 100, maxDelayMs: 1000 }, () => ({ retry: true }));
  q.add('a');
  await timers.advanceSettled(5000);
  const at = runs('a') as number[];
  t.deepEqual(at.slice(1, 8).map((x, i) => x - at[i]!), [100, 200, 400, 800, 1000, 1000, 1000]);
  t.is(q.retries, at.length);
});

test('jitter spreads a retry delay within delay * (1 ± jitter/2), drawn from the injected random', async (t) => {
  for (const [jitter, r, want] of [
    [0.5, 0, 750],
    [0.5, 1, 1250],
    [undefined, 0, 900],
    [undefined, 1, 1100],
  ] as const) {
    const { q, timers, runs } = setup({ baseDelayMs: 1000, maxDelayMs: 10000, jitter, random: () => r }, () => ({ retry: true }));
    q.add('a');
    await timers.advanceSettled(want - 1);
    t.deepEqual(runs('a'), [0], `jitter ${jitter}, random ${r}: not before ${want}`);
    await timers.advanceSettled(1);
    t.deepEqual(runs('a'), [0, want], `jitter ${jitter}, random ${r}`);
  }
});

test('a success resets the back-off of that key (a requeue too), and only of that key', async (t) => {
  const { q, timers, calls, runs } = setup();
  const step = async (c: Call | undefined, o: Outcome) => (c!.finish(o), await settle());
  q.add('a');
  q.add('b');
  await settle();
  await step(calls[0], { retry: true }); // a: 1st failure, b runs
  await step(calls[1], { retry: true }); // b: 1st failure
  await timers.advanceSettled(100); // a runs
  await step(calls[2], { retry: true }); // a: 2nd failure, due in 200
  await timers.advanceSettled(100); // b runs
  await step(calls[3], undefined); // b: success
  await timers.advanceSettled(100); // a runs (at 300)
  await step(calls[4], { retry: true }); // a: 3rd failure, due in 400
  await timers.advanceSettled(400);
  await step(calls[5], { requeueAfterMs: 10 }); // a: requeue resets
  await timers.advanceSettled(10);
  await step(calls[6], { retry: true }); // a: 1st failure again, due in 100
  q.add('b');
  await settle();
  await step(calls[7], { retry: true }); // b: 1st failure again (its success reset it)
  await timers.advanceSettled(100); // a runs, b waits for it
  await step(calls[8], undefined);
  t.deepEqual(runs(), ['a@0', 'b@0', 'a@100', 'b@100', 'a@300', 'a@700', 'a@710', 'b@710', 'a@810', 'b@810']);
});

test('requeueAfterMs runs the key again at that time, not before', async (t) => {
  const { q, timers, calls, runs } = setup();
  q.add('a');
  await settle();
  calls[0]!.finish({ requeueAfterMs: 300 });
  await timers.advanceSettled(299);
  t.deepEqual(runs('a'), [0]);
  t.true(q.pending('a'), 'due by a timer');
  t.is(q.depth, 0);
  await timers.advanceSettled(1);
  t.deepEqual(runs('a'), [0, 300]);
  calls[1]!.finish({ requeueAfterMs: 50, retry: true });
  await timers.advanceSettled(50);
  t.deepEqual(runs('a'), [0, 300, 350], 'a requeue wins over a retry');
  t.is(q.retries, 0);
});

test('a timed add while the key runs still comes: the run under way may have looked too early', async (t) => {
  const { q, timers, calls, runs } = setup();
  q.add('a');
  await settle();
  q.addAfter('a', 100);
  calls[0]!.finish();
  await timers.advanceSettled(100);
  t.deepEqual(runs('a'), [0, 100]);
});

test('of two timed adds of a key the earlier wins, whichever came first', async (t) => {
  for (const [first, second] of [
    [500, 200],
    [200, 500],
  ]) {
    const { q, timers, runs } = setup({}, () => undefined);
    q.addAfter('a', first!);
    await timers.advanceSettled(10);
    q.addAfter('a', second! - 10);
    await timers.advanceSettled(2000);
    t.deepEqual(runs('a'), [200], `${first} then ${second}`);
  }
});

test('a timed add of a key already queued does nothing: the queued run comes first', async (t) => {
  const { q, timers, calls, runs } = setup();
  q.add('b');
  q.add('a');
  q.addAfter('a', 50);
  await timers.advanceSettled(10);
  calls[0]!.finish();
  await settle();
  calls[1]!.finish();
  await timers.advanceSettled(1000);
  t.deepEqual(runs(), ['b@0', 'a@10']);
});

test('an immediate add supersedes a timed one, and a retry timer, whose back-off stays', async (t) => {
  const { q, timers, calls, runs } = setup();
  q.addAfter('a', 500);
  await timers.advanceSettled(10);
  q.add('a');
  await settle();
  calls[0]!.finish({ retry: true }); // due in 100
  await timers.advanceSettled(50);
  q.add('a');
  await settle();
  calls[1]!.finish({ retry: true }); // 2nd failure: due in 200
  await timers.advanceSettled(1000);
  calls[2]!.finish();
  await timers.advanceSettled(1000);
  t.deepEqual(runs('a'), [10, 60, 260]);
});

test('concurrency 1 runs one handler at a time, keys in the order queued', async (t) => {
  const { q, calls, runs, open } = setup();
  q.add('b');
  q.add('c');
  q.add('a');
  await settle();
  t.is(open.size, 1);
  t.is(q.depth, 2);
  calls[0]!.finish();
  await settle();
  t.is(open.size, 1);
  calls[1]!.finish();
  await settle();
  t.deepEqual(runs(), ['b@0', 'c@0', 'a@0']);
});

test('concurrency 2 runs two keys at once, never one key twice', async (t) => {
  const { q, calls, runs, open } = setup({ concurrency: 2 });
  q.add('a');
  q.add('b');
  q.add('c');
  await settle();
  t.deepEqual(runs(), ['a@0', 'b@0']);
  q.add('a'); // a runs: due once more, after
  calls[1]!.finish(); // b done: c, not a second a beside the first
  await settle();
  t.deepEqual(runs(), ['a@0', 'b@0', 'c@0']);
  t.deepEqual([...open].map((c) => c.key).sort(), ['a', 'c']);
  calls[2]!.finish(); // c done: a still runs, so nothing starts
  await settle();
  t.is(open.size, 1);
  t.is(q.depth, 1);
  calls[0]!.finish();
  await settle();
  t.deepEqual(runs(), ['a@0', 'b@0', 'c@0', 'a@0']);
});

test('a handler that throws goes to onError and is retried with back-off', async (t) => {
  const errors: [Key, unknown][] = [];
  const boom = new Error('boom');
  const { q, timers, calls, runs } = setup({ onError: (key, err) => errors.push([key, err]) });
  q.add('a');
  await settle();
  calls[0]!.fail(boom);
  await timers.advanceSettled(99);
  t.deepEqual(errors, [['a', boom]]);
  t.true(q.pending('a'));
  await timers.advanceSettled(1);
  t.deepEqual(runs('a'), [0, 100]);
  t.is(q.retries, 1);
});

test('a handler that throws before its promise, or an onError that throws, stops nothing', async (t) => {
  const timers = new FakeTimers();
  const ran: Key[] = [];
  const q = new WorkQueue<Key>(
    {
      a: () => {
        ran.push('a');
        throw new Error('sync');
      },
      b: async () => void ran.push('b'),
      c: async () => void ran.push('c'),
    },
    {
      baseDelayMs: 100,
      maxDelayMs: 100,
      jitter: 0,
      timers,
      now: () => timers.now,
      onError: () => {
        throw new Error('reporter');
      },
    },
  );
  q.add('a');
  q.add('b');
  await timers.advanceSettled(100);
  t.deepEqual(ran, ['a', 'b', 'a']);
  t.is(q.retries, 2);
});

test('stop cancels timers and queued keys, waits for the running handler, then takes no more work', async (t) => {
  const { q, timers, calls, runs } = setup();
  q.add('a');
  q.add('b');
  q.addAfter('c', 100);
  await settle();
  let stopped: boolean | undefined;
  void q.stop().then((ok) => (stopped = ok));
  t.is(timers.size, 0, 'timers cancelled');
  await timers.advanceSettled(500);
  t.is(stopped, undefined, 'waits for the handler under way');
  calls[0]!.finish({ requeueAfterMs: 10 });
  await settle();
  t.true(stopped);
  q.add('a');
  q.addAfter('b', 1);
  t.false(q.pending('a') || q.pending('b') || q.pending('c'));
  await timers.advanceSettled(500);
  t.deepEqual(runs(), ['a@0']);
});

test('stop gives up on a handler that outlasts timeoutMs', async (t) => {
  const { q, timers } = setup();
  q.add('a');
  await settle();
  let stopped: boolean | undefined;
  void q.stop(1000).then((ok) => (stopped = ok));
  await timers.advanceSettled(999);
  t.is(stopped, undefined);
  await timers.advanceSettled(1);
  t.false(stopped);
});

test('idle resolves once nothing is queued or running, and with timed: true once no timer is due', async (t) => {
  const { q, timers, calls } = setup({ concurrency: 2 });
  const resolved: string[] = [];
  await q.idle();
  q.add('a');
  q.add('b');
  q.addAfter('c', 1000);
  void q.idle().then(() => resolved.push('idle'));
  void q.idle({ timed: true }).then(() => resolved.push('timed'));
  await settle();
  calls[0]!.finish();
  await settle();
  t.deepEqual(resolved, [], 'b still runs');
  calls[1]!.finish();
  await settle();
  t.deepEqual(resolved, ['idle']);
  await timers.advanceSettled(1000);
  t.deepEqual(resolved, ['idle'], 'c runs');
  calls[2]!.finish();
  await settle();
  t.deepEqual(resolved, ['idle', 'timed']);
});
