// Churn: 100 req/s keep-alive with cookies for 60 s (and 10 req/s on fresh connections beside it,
// for comparison) while the stack goes 2 → 6, two are SIGKILLed, two stopped, and back to 2.
// Failed requests, latency, and the reloads it caused (`show proc` before and after).
import type { ComposeStack } from '../../harness/compose.js';
import { docker } from '../../harness/compose.js';
import type { Sample } from '../../harness/load.js';
import { sleep } from '../../harness/wait.js';
import { clock } from '../machine.js';
import { log } from '../parts.js';
import { startLoads } from './loads.js';

const RPS = 100;
const FRESH_RPS = 10;
const SECONDS = 60;

export async function churn(stack: ComposeStack) {
  await stack.scale(2);
  await stack.converged(60000);
  const base = (await stack.containers('webapp')).map((c) => c.Id);
  const baseHosts = new Set(await Promise.all(base.map(async (id) => (await stack.webapp(id)).hostname)));
  const before = await stack.haProc();
  const loads = startLoads(stack.url, RPS, FRESH_RPS, SECONDS);
  const c0 = clock();
  const events: { at: number; what: string; tookMs?: number; error?: string }[] = [];
  const at = async (sec: number, what: string, f: () => Promise<unknown>) => {
    await sleep(Math.max(0, c0 + sec * 1000 - clock()));
    const s = clock();
    try {
      await f();
      events.push({ at: Math.round(s - c0), what, tookMs: Math.round(clock() - s) });
    } catch (err) {
      events.push({ at: Math.round(s - c0), what, error: (err as Error).message.slice(0, 500) });
    }
    log(`churn +${((s - c0) / 1000).toFixed(1)} s: ${what} (${Math.round(clock() - s)} ms)`);
  };
  const added = async () => (await stack.containers('webapp')).filter((c) => !base.includes(c.Id));
  await at(3, 'scale 2→6', () => stack.scale(6));
  await at(20, 'kill 2 (SIGKILL)', async () => Promise.all((await added()).slice(0, 2).map((c) => docker.getContainer(c.Id).kill())));
  await at(33, 'stop 2 (docker stop)', async () => Promise.all((await added()).slice(0, 2).map((c) => docker.getContainer(c.Id).stop({ t: 30 }))));
  await at(45, 'scale back to 2', () => stack.scale(2));
  await sleep(Math.max(0, c0 + SECONDS * 1000 - clock()));
  const ka = await loads.keepalive.stop();
  const fr = await loads.fresh.stop();
  const after = await stack.haProc();
  const end = await stack.converged(60000).catch((e: Error) => e.message);
  const figures = (r: { samples: Sample[]; failed: Sample[]; p50: number; p99: number }) => ({
    requests: r.samples.length,
    failed: r.failed.length,
    p50: r.p50,
    p99: r.p99,
    max: Math.max(...r.samples.map((s) => s.latencyMs)),
    over100ms: r.samples.filter((s) => s.latencyMs > 100).length,
    failures: r.failed.slice(0, 100),
  });
  return {
    rps: RPS,
    seconds: SECONDS,
    keepalive: figures(ka),
    fresh: { rps: FRESH_RPS, ...figures(fr) },
    reloads: after.reloads - before.reloads,
    sameWorker: after.workerPid === before.workerPid,
    events,
    timeline: timeline(ka.samples, SECONDS),
    /** Requests over 100 ms, and whether a webapp the churn started answered them. */
    slow: ka.samples.filter((s) => s.latencyMs > 100).map((s) => ({ at: s.at, ms: s.latencyMs, host: s.host, newNode: s.host !== undefined && !baseHosts.has(s.host) })),
    endState: end,
  };
}

/** Per second: requests, failed, slower than 100 ms, max latency. */
function timeline(samples: Sample[], seconds: number) {
  const out = Array.from({ length: seconds + 1 }, (_, sec) => ({ sec, requests: 0, failed: 0, over100ms: 0, maxMs: 0 }));
  for (const s of samples) {
    const b = out[Math.min(seconds, Math.floor(s.at / 1000))]!;
    b.requests++;
    if (s.status !== 200) b.failed++;
    if (s.latencyMs > 100) b.over100ms++;
    b.maxMs = Math.max(b.maxMs, s.latencyMs);
  }
  return out;
}
