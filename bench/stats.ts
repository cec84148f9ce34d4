import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Summary {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
}

export function summary(values: number[]): Summary {
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number) => v[Math.min(v.length - 1, Math.floor(q * v.length))] ?? NaN;
  const median = v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
  return { n: v.length, min: v[0] ?? NaN, median: v.length ? median : NaN, p99: at(0.99), max: v[v.length - 1] ?? NaN };
}

/** Prints rows as an aligned table. */
export function table(title: string, header: string[], rows: (string | number)[][]): void {
  const cells = [header, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? (Number.isInteger(c) ? String(c) : c.toFixed(1)) : c)))];
  const width = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  console.log(`\n${title}`);
  for (const [i, r] of cells.entries()) {
    console.log(r.map((c, j) => c.padEnd(width[j]!)).join('  '));
    if (i === 0) console.log(width.map((w) => '-'.repeat(w)).join('  '));
  }
}

/** A load's figures as a table row, and that table's header. */
export interface LoadFigures {
  requests: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
  over100ms: number;
}
export const LOAD_HEADER = ['load', 'requests', 'failed', 'p50', 'p99', 'max', '>100 ms'];
export const loadRow = (label: string, f: LoadFigures): (string | number)[] => [label, f.requests, f.failed, f.p50, f.p99, f.max, f.over100ms];

/** The churn's two loads (keep-alive with cookies, fresh connections) as table rows. */
export const churnRows = (c: { rps: number; keepalive: LoadFigures; fresh: LoadFigures & { rps: number } }) => [
  loadRow(`keep-alive with cookies, ${c.rps} req/s`, c.keepalive),
  loadRow(`fresh connections, ${c.fresh.rps} req/s`, c.fresh),
];

/** bench/results/ in the source tree (benchmarks run from dist/bench/). */
export const RESULTS = fileURLToPath(new URL('../../bench/results/', import.meta.url));

export function writeResults(name: string, data: unknown): string {
  mkdirSync(RESULTS, { recursive: true });
  const path = `${RESULTS}${name}.json`;
  writeFileSync(path, JSON.stringify({ date: new Date().toISOString(), ...(data as object) }, null, 2) + '\n');
  return path;
}

/** Resident memory of a process, MB, from its /proc status text (Linux). */
export function rssMb(status: string): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}
