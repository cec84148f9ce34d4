import type { ExecutionContext } from 'ava';
import type { LoadResult } from '../../harness/load.js';

/** Stops every load; fails the test on any failed request, with the failures and their neighbours in the log. */
export async function assertNoFailures(t: ExecutionContext, loads: Record<string, { stop(): Promise<LoadResult> }>): Promise<Record<string, LoadResult>> {
  const out: Record<string, LoadResult> = {};
  for (const [name, load] of Object.entries(loads)) {
    const r = await load.stop();
    out[name] = r;
    t.true(r.samples.length > 0, `${name}: the load ran`);
    for (const f of r.failed.slice(0, 10)) {
      const near = r.samples.filter((s) => Math.abs(s.at - f.at) < 300).map((s) => `${s.at}ms:${s.status}${s.error ? `(${s.error})` : ''}:${s.host ?? '-'}`);
      t.log(`${name}: failed at ${f.at} ms (client ${f.client}): status ${f.status} ${f.error ?? ''}; around it: ${near.join(' ')}`);
    }
    t.is(r.failed.length, 0, `${name}: ${r.failed.length} of ${r.samples.length} requests failed`);
    t.log(`${name}: ${r.samples.length} requests, ${r.failed.length} failed, p50 ${r.p50} ms, p99 ${r.p99} ms`);
  }
  return out;
}
