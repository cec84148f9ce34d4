// Client loads around an action, and their figures added up over the repetitions of a section.
// The keep-alive load with cookies is the one the targets are about; a fresh-connection load
// runs beside it for comparison with the old benchmark, which opened a connection per request.
import { type LoadResult, type Sample, startLoad } from '../../harness/load.js';
import { sleep } from '../../harness/wait.js';
import type { LoadFigures as TableFigures } from '../stats.js';

export type LoadKind = 'keepalive' | 'fresh';

/** A load's table figures (bench/stats.ts), what kind of load it was, and every failed request. */
export interface LoadFigures extends TableFigures {
  kind: string;
  failures: (Sample & { rep: number })[];
}

/** Starts both loads on `url`: keep-alive GETs with cookies at `rps`, fresh-connection GETs at `freshRps`. */
export function startLoads(url: string, rps: number, freshRps: number, maxSeconds: number) {
  return {
    keepalive: startLoad(url, { rps, clients: 10, cookies: true, maxSeconds }),
    fresh: startLoad(url, { rps: freshRps, mode: 'fresh', maxSeconds }),
  };
}

/** Runs `action` under both loads, 1 s after they start; stops them `tailMs` after it ends. */
export async function underLoads<T>(url: string, rps: number, freshRps: number, action: () => Promise<T>, tailMs = 1000) {
  const loads = startLoads(url, rps, freshRps, 120);
  await sleep(1000);
  try {
    const value = await action();
    await sleep(tailMs);
    return { value, keepalive: await loads.keepalive.stop(), fresh: await loads.fresh.stop() };
  } catch (err) {
    await Promise.all([loads.keepalive.stop(), loads.fresh.stop()]);
    throw err;
  }
}

/** Adds up load results over the reps of a section. */
export class LoadTally {
  private readonly latencies: number[] = [];
  private readonly f: LoadFigures;

  constructor(kind: string) {
    this.f = { kind, requests: 0, failed: 0, p50: 0, p99: 0, max: 0, over100ms: 0, failures: [] };
  }

  add(rep: number, r: LoadResult): void {
    this.f.requests += r.samples.length;
    this.f.failed += r.failed.length;
    this.f.over100ms += r.samples.filter((s) => s.latencyMs > 100).length;
    if (this.f.failures.length < 100) this.f.failures.push(...r.failed.slice(0, 100).map((s) => ({ rep, ...s })));
    for (const s of r.samples) this.latencies.push(s.latencyMs);
  }

  figures(): LoadFigures {
    const lat = [...this.latencies].sort((a, b) => a - b);
    const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]! : 0);
    return { ...this.f, p50: pct(50), p99: pct(99), max: lat.at(-1) ?? 0 };
  }
}
