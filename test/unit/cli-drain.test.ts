// `leasehold drain --wait` with an in-memory store and no renderer listening: its wait runs on the
// monotonic clock, whatever the wall clock does meanwhile.
import test from 'ava';
import type { NodeRef } from '../../cli/args.js';
import { cliOptionsFromEnv } from '../../cli/args.js';
import type { Context } from '../../cli/context.js';
import { drain } from '../../cli/drain.js';
import { RendererUnreachableError } from '../../cli/errors.js';
import type { CliStore } from '../../cli/store.js';
import { freePort } from '../../harness/ports.js';
import { sleep } from '../../harness/wait.js';

test('drain --wait gives up after its --timeout even when the wall clock steps back an hour while it waits', async (t) => {
  const renderer = `http://127.0.0.1:${await freePort()}`; // nothing listens: every poll fails at once
  const options = cliOptionsFromEnv({ LEASEHOLD_RENDERERS: renderer }, 'tester', 'box');
  const keys = new Map<string, string>();
  const store = {
    registered: async () => ({ registered: true, ids: ['n1'] }),
    key: (kind: string, n: NodeRef) => `/leasehold/${kind}/${n.service}/${n.id}`,
    get: async (key: string) => keys.get(key) ?? null,
    put: async (key: string, value: string) => void keys.set(key, value),
  } as unknown as CliStore;
  let wallStep = 0;
  const interrupt = new AbortController();
  t.teardown(() => interrupt.abort()); // ends the loop if it never times out
  const ctx: Context = {
    options,
    etcd: () => t.fail('no etcd here') as never,
    store: () => store,
    look: { tty: false, color: false },
    out: () => undefined,
    // The first progress line comes once the wait has begun: the wall clock steps back then.
    err: () => void (wallStep = -3600_000),
    now: () => Date.now() + wallStep,
    monotonic: () => performance.now(),
    interrupted: interrupt.signal,
  };
  const started = performance.now();
  const outcome = await Promise.race([
    drain({ name: 'drain', node: { service: 'webapp', id: 'n1' }, wait: true, timeoutMs: 500, force: false }, ctx).catch((err: unknown) => err),
    sleep(10000).then(() => 'still waiting 10 s later'),
  ]);
  t.true(wallStep < 0, 'the wall clock was stepped during the wait');
  t.true(outcome instanceof RendererUnreachableError, String(outcome));
  t.true(performance.now() - started < 5000, `gave up after ${Math.round(performance.now() - started)} ms (timeout 500 ms)`);
  t.true(keys.has('/leasehold/drain/webapp/n1'), 'the drain key is written, dated by the wall clock');
});
