import test from 'ava';
import { Coalescer } from '../../renderer/coalesce.js';
import { FakeTimers } from '../helpers/fake-timers.js';

function setup(min = 50, max = 1000) {
  const timers = new FakeTimers();
  const flushes: number[] = [];
  const c = new Coalescer(min, max, () => flushes.push(timers.now), timers);
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
