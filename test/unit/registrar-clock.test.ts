import test from 'ava';
import { systemClock } from '../../registrar/clock.js';
import { sleep } from '../../harness/wait.js';

test('the system clock sleeps through a delay past setTimeout\'s limit (Infinity: a check in flight) until its signal aborts', async (t) => {
  for (const ms of [Infinity, 2 ** 31]) {
    const abort = new AbortController();
    let woke = false;
    const slept = systemClock.sleep(ms, abort.signal).then(() => (woke = true));
    await sleep(100);
    t.false(woke, `${ms} ms: still asleep after 100 ms (setTimeout alone fires after 1 ms)`);
    abort.abort();
    await slept;
    t.true(woke, 'woken by the signal');
  }
});

test('the system clock measures on monotonic time, and dates on the wall clock', async (t) => {
  const [m, w] = [systemClock.monotonic(), systemClock.wall()];
  await systemClock.sleep(20);
  t.true(systemClock.monotonic() - m >= 19);
  t.true(Math.abs(w - Date.now()) < 1000 && m < w / 1000, 'wall: epoch ms; monotonic: from about the process start');
});
