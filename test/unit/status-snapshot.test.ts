import test from 'ava';
import { Snapshot } from '../../renderer/status-snapshot.js';

test('the status snapshot: concurrent and repeated askers within its age share one answer; a failure is not kept', async (t) => {
  let now = 0;
  let taken = 0;
  let fail = false;
  const s = new Snapshot(async () => {
    taken++;
    if (fail) throw new Error('HAProxy away');
    return taken;
  }, 1000, () => now);
  const answers = await Promise.all(Array.from({ length: 2000 }, () => s.get()));
  t.true(answers.every((a) => a === 1));
  now = 999;
  t.is(await s.get(), 1);
  now = 1000;
  fail = true;
  await t.throwsAsync(s.get(), { message: 'HAProxy away' });
  fail = false;
  t.is(await s.get(), 3, 'the failed answer was not kept');
  t.is(taken, 3);
});

test('the status snapshot: an answer still being taken is shared, however long it takes (no show stat queued behind it)', async (t) => {
  let takes = 0;
  let now = 0;
  let settle!: (n: number) => void;
  const s = new Snapshot(() => (takes++, new Promise<number>((r) => (settle = r))), 1000, () => now);
  for (let i = 0; i < 30; i++) {
    void s.get();
    now += 1000;
  }
  t.is(takes, 1);
  settle(1);
  t.is(await s.get(), 1, 'fresh from when it settled');
  now += 1000;
  void s.get();
  t.is(takes, 2);
});
