import type { HistogramState } from '../common/status.js';

export type { HistogramState } from '../common/status.js';

/** Upper bounds, seconds: from one fast change (a few ms) to a pass held up behind a reload. */
export const APPLY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] as const;

export function histogram(le: readonly number[] = APPLY_BUCKETS): HistogramState {
  return { le, counts: le.map(() => 0), sum: 0, count: 0 };
}

/** Adds one observation, in seconds (above the last bound: in +Inf only). */
export function observe(h: HistogramState, seconds: number): void {
  const i = h.le.findIndex((b) => seconds <= b);
  if (i >= 0) h.counts[i]!++;
  h.sum += seconds;
  h.count++;
}

/** Prometheus text lines: cumulative `_bucket` lines up to `+Inf`, then `_sum` and `_count`. */
export function histogramLines(name: string, labels: Record<string, string>, h: HistogramState): string[] {
  const l = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const with_ = (extra: string[]) => (extra.length ? `{${extra.join(',')}}` : '');
  let acc = 0;
  const out = h.le.map((b, i) => `${name}_bucket${with_([...l, `le="${b}"`])} ${(acc += h.counts[i]!)}`);
  out.push(`${name}_bucket${with_([...l, 'le="+Inf"'])} ${h.count}`);
  out.push(`${name}_sum${with_(l)} ${h.sum}`, `${name}_count${with_(l)} ${h.count}`);
  return out;
}
