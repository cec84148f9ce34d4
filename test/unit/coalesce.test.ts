import test from 'ava';
import { Coalescer } from '../../renderer/coalesce.js';
import { FakeTimers } from '../helpers/fake-timers.js';

function setup(min = 50, max = 1000, leading = false) {
  const timers = new FakeTimers();
  const flushes: number[] = [];
  const c = new Coalescer(min, max, () => flushes.push(timers.now), timers, leading);
  return { timers, flushes, c };
}

test('a single change flushes after the quiet period', (t) => {
  const { timers, flushes, c } = setup();
  c.trigger();
  timers.advance(49);
  t.deepEqual(flushes, []);
  timers.advance(1);
  t.deepEqual(flushes, [50]);
  t.false(c.pending);
});

test('a burst that goes quiet flushes once', (t) => {
  const { timers, flushes, c } = setup();
  for (let i = 0; i < 10; i++) {
    c.trigger();
    timers.advance(10);
  }
  timers.advance(100);
  t.deepEqual(flushes, [140]);
});

test('100 changes within a second flush once', (t) => {
  const { timers, flushes, c } = setup(50, 1000);
  for (let i = 0; i < 100; i++) {
    c.trigger();
    timers.advance(9);
  }
  timers.advance(200);
  t.deepEqual(flushes, [941]);
});

test('a steady stream still flushes at the max wait', (t) => {
  const { timers, flushes, c } = setup(50, 1000);
  // 150 changes, one every 10 ms: no quiet period until the end.
  for (let i = 0; i < 150; i++) {
    c.trigger();
    timers.advance(10);
  }
  timers.advance(200);
  t.deepEqual(flushes, [1000, 1540]);
});

test('cancel drops a pending flush', (t) => {
  const { timers, flushes, c } = setup();
  c.trigger();
  c.cancel();
  timers.advance(5000);
  t.deepEqual(flushes, []);
});

test('leading: a lone change flushes at once, with whatever came in the same turn', (t) => {
  const { timers, flushes, c } = setup(50, 1000, true);
  c.trigger();
  c.trigger();
  t.true(c.pending);
  timers.advance(0);
  t.deepEqual(flushes, [0]);
  t.false(c.pending);
  // Quiet for minMs since that flush: the next lone change goes at once too.
  timers.advance(60);
  c.trigger();
  timers.advance(0);
  t.deepEqual(flushes, [0, 60]);
});

test('leading: a burst flushes at its first change, then once when it goes quiet', (t) => {
  const { timers, flushes, c } = setup(50, 1000, true);
  for (let i = 0; i < 100; i++) {
    c.trigger();
    timers.advance(9);
  }
  timers.advance(200);
  t.deepEqual(flushes, [0, 941]);
  // A change right after a flush (within minMs) waits for the quiet time, as a burst's would.
  const { timers: t2, flushes: f2, c: c2 } = setup(50, 1000, true);
  c2.trigger();
  t2.advance(10);
  c2.trigger();
  t2.advance(49);
  t.deepEqual(f2, [0]);
  t2.advance(1);
  t.deepEqual(f2, [0, 60]);
});

test('leading: a steady stream flushes at its start, then at the max wait', (t) => {
  const { timers, flushes, c } = setup(50, 1000, true);
  for (let i = 0; i < 150; i++) {
    c.trigger();
    timers.advance(10);
  }
  timers.advance(200);
  t.deepEqual(flushes, [0, 1010, 1540]);
});
