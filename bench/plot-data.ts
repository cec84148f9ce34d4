// From results (bench/results/*.json, parsed) to the charts of bench/plots.ts. Pure: a plot whose
// data are not in the results says why and which run makes them, rather than drawing nothing.
import { COLORS, type Chart, FAIL, type Marker, type Point, type Series } from './svg.js';

export type Plot = { file: string; charts: Chart[] } | { file: string; missing: string };

// Results are read as JSON written by earlier versions of the benchmarks too: nothing is assumed.
type Json = any;

const day = (r: Json) => (typeof r?.date === 'string' ? `${r.date.slice(0, 16).replace('T', ' ')} UTC` : 'undated');
const commit = (r: Json) => (r?.machine?.commit ? ` at ${r.machine.commit}${r.machine.dirty ? ' (uncommitted changes)' : ''}` : '');

// The project's targets (version 3) for these figures; bench/targets.ts still checks version 2's.
export const TARGETS = {
  oneChangeP99Ms: [{ x: 1000, y: 10 }, { x: 10000, y: 25 }],
  rendererMb: [{ x: 100, y: 60 }, { x: 10000, y: 100 }],
};
const TARGET = '#000';

/** What an event of the churn is, by the words bench/compose/churn.ts logs for it. */
export function eventKind(what: string): string {
  if (/kill|SIGKILL/i.test(what)) return 'crash';
  if (/stop|back|down/i.test(what)) return 'graceful leave';
  if (/scale/i.test(what)) return 'join';
  return what;
}

/** Requests per second through the churn (bench/compose/churn.ts), its events marked. */
export function requestsOverTime(conv: Json): Plot {
  const file = 'requests-over-time.svg';
  const c = conv?.churn;
  const seconds: number = c?.seconds ?? c?.timeline?.length;
  // The bucket at `seconds` holds only the requests that ended after the load stopped.
  const tl: Json[] = Array.isArray(c?.timeline) ? c.timeline.filter((b: Json) => b.sec < seconds) : [];
  if (!tl.length || !Array.isArray(c.events)) {
    return { file, missing: 'convergence.json has no churn timeline with its events: run `BENCH_ONLY=churn npm run bench:compose`' };
  }
  const failedAt = new Map<number, number>();
  for (const b of tl) if (b.failed > 0) failedAt.set(b.sec, b.failed);
  // The fresh-connection load has no timeline; its failed requests (the first 100) carry times.
  for (const f of (c.fresh?.failures ?? []) as Json[]) {
    const sec = Math.floor(f.at / 1000);
    failedAt.set(sec, (failedAt.get(sec) ?? 0) + 1);
  }
  const failed = (c.keepalive?.failed ?? 0) + (c.fresh?.failed ?? 0);
  const requests = (c.keepalive?.requests ?? 0) + (c.fresh?.requests ?? 0);
  const last = tl.at(-1);
  const held = (f: (b: Json) => number): Point[] => [...tl.map((b) => ({ x: b.sec, y: f(b) })), { x: last.sec + 1, y: f(last) }];
  const markers: Marker[] = (c.events as Json[]).map((e) => ({ x: e.at / 1000, until: (e.at + (e.tookMs ?? 0)) / 1000, label: `${eventKind(e.what)}: ${e.what}` }));
  const slow = ((c.slow ?? []) as Json[]).map((s) => ({ x: s.at / 1000, y: s.ms }));
  const x = { label: 'seconds since the load started (shaded: the command running)', min: 0, max: seconds };
  return {
    file,
    charts: [
      {
        title: `Requests through a join, a crash and graceful leaves (${c.rps ?? '?'} req/s keep-alive)`,
        subtitle: `npm run bench:compose, churn part: compose stack, ${day(conv)}${commit(conv)}`,
        x,
        y: { label: 'requests per second', min: 0 },
        series: [
          { name: 'keep-alive requests answered 200', color: COLORS[0], kind: 'step', points: held((b) => b.requests - b.failed) },
          { name: `failed requests (${failed} of ${requests.toLocaleString('en-US')}, keep-alive and fresh)`, color: FAIL, kind: 'points', radius: 5, points: [...failedAt].map(([sec, n]) => ({ x: sec + 0.5, y: n })) },
        ],
        markers,
        height: 200,
      },
      {
        title: 'Latency of the same keep-alive requests',
        x,
        y: { label: 'ms', min: 0 },
        series: [
          { name: 'slowest request in each second', color: COLORS[5], kind: 'step', points: held((b) => b.maxMs) },
          { name: `requests over 100 ms (${slow.length})`, color: COLORS[1], kind: 'points', points: slow },
        ],
        markers: markers.map(({ label: _, ...m }) => m),
        height: 160,
      },
    ],
  };
}

/** The `nodesN` entries of renderer.json, smallest pool first. */
function pools(r: Json): { nodes: number; v: Json }[] {
  return Object.keys(r ?? {})
    .map((k) => /^nodes(\d+)$/.exec(k))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ nodes: Number(m[1]), v: r[m[0]] }))
    .sort((a, b) => a.nodes - b.nodes);
}

/** One change (put → live in the worker) against pool size, renderer alone. */
export function changeLatencyByPool(r: Json): Plot {
  const file = 'change-latency-by-pool.svg';
  const sized = pools(r).filter((p) => p.v?.oneChange?.changes && Array.isArray(p.v.oneChange.samples));
  if (sized.length < 2) {
    return { file, missing: `renderer.json has one change timed at ${sized.length} pool size(s), 2 or more are needed: run \`npm run bench:renderer\`` };
  }
  // Spread a pool's samples a little sideways so they do not sit on one another.
  const samples = sized.flatMap(({ nodes, v }) => (v.oneChange.samples as Json[]).map((s, i) => ({ x: nodes * (1 + ((i % 9) - 4) * 0.02), y: s.ms })));
  const stat = (k: 'median' | 'p99') => sized.map(({ nodes, v }) => ({ x: nodes, y: v.oneChange.changes[k] }));
  return {
    file,
    charts: [{
      title: 'One change, etcd put → live in the HAProxy worker, by pool size',
      subtitle: `npm run bench:renderer: renderer alone, ${day(r)}${commit(r)}`,
      x: { label: 'nodes in the pool (log scale)', log: true },
      y: { label: 'ms (log scale)', log: true },
      series: [
        { name: 'each change', color: '#b0b0b0', kind: 'points', radius: 2.5, points: samples },
        { name: 'median', color: COLORS[0], kind: 'line', dots: true, points: stat('median') },
        { name: 'p99', color: COLORS[1], kind: 'line', dashed: true, dots: true, points: stat('p99') },
        { name: 'target for the p99', color: TARGET, kind: 'points', hollow: true, radius: 6, points: TARGETS.oneChangeP99Ms },
      ],
    }],
  };
}

/** Resident memory against pool size: the renderer alone (host) and the compose stack's containers. */
export function memoryByPool(r: Json, conv: Json): Plot {
  const file = 'memory-by-pool.svg';
  const host = [r?.memory100, ...pools(r).map((p) => p.v?.memory)].filter((m) => m && typeof m.rss === 'number').sort((a, b) => a.nodes - b.nodes);
  // The compose stack: 3 webapps as run, and ~100 synthetic nodes beside them.
  const m = conv?.memory;
  const stack = [m?.asRun && { nodes: m.asRun.webapps ?? 3, ...m.asRun }, m?.hundredNodes].filter((x) => x && typeof x.nodes === 'number');
  const series: Series[] = [
    { name: 'renderer on the host, resident', color: COLORS[0], kind: 'line', points: host.map((h) => ({ x: h.nodes, y: h.rss })) },
    { name: 'renderer on the host, peak', color: COLORS[0], kind: 'line', dashed: true, points: host.filter((h) => typeof h.peak === 'number').map((h) => ({ x: h.nodes, y: h.peak })) },
    { name: 'renderer in its container', color: COLORS[1], kind: 'line', points: stack.map((s) => ({ x: s.nodes, y: s.renderer })) },
    { name: 'HAProxy worker (container)', color: COLORS[2], kind: 'line', points: stack.map((s) => ({ x: s.nodes, y: s.haproxyWorker })) },
    { name: 'etcd (container)', color: COLORS[3], kind: 'line', points: stack.map((s) => ({ x: s.nodes, y: s.etcd })) },
  ].map((s) => ({ ...s, kind: 'line' as const, dots: true, points: s.points.filter((p) => typeof p.y === 'number') }));
  const drawn = series.filter((s) => s.points.length >= 2);
  if (!drawn.length) {
    return { file, missing: 'no memory figure at 2 or more pool sizes in renderer.json or convergence.json: run `npm run bench:renderer` (host) or `BENCH_ONLY=memory npm run bench:compose` (containers)' };
  }
  return {
    file,
    charts: [{
      title: 'Resident memory by pool size',
      subtitle: `renderer alone (host), ${day(r)}; compose stack (containers), ${day(conv)}`,
      x: { label: 'nodes in the pool (log scale)', log: true },
      y: { label: 'MB resident', min: 0 },
      series: [...drawn, { name: 'target for the renderer', color: TARGET, kind: 'points', hollow: true, radius: 6, points: TARGETS.rendererMb }],
    }],
  };
}
