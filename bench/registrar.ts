#!/usr/bin/env node
// The registrar alone against a real etcd on 127.0.0.1, once per build (the CommonJS build the
// images run, the ESM build, and optionally another entry file in BENCH_REGISTRAR_BASELINE, e.g.
// an older commit's dist/registrar/main.js) and per set of Node flags (BENCH_FLAGS picks some):
// - start-up: process spawned → first health request reaches the app (ready to poll);
// - join: process spawned → record in etcd (the app answers from the start);
// - resident memory (VmRSS, VmHWM from /proc/<pid>/status) after registering and BENCH_HOLD_MS
//   of keepalives (LEASE_TTL 2: a keepalive every ~670 ms, a verify every 2 s).
// With BENCH_IMAGE (e.g. leasehold/webapp:trixie) each registrar runs in a container of that
// image instead (host network; the build's dist/ mounted on /app/dist; the image's node and
// node_modules), and the results go to registrar-container.json; start-up and join are then on
// its own clock: it starts when the container's shell execs node (`date +%s%N` just before).
// Writes bench/results/registrar.json.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { TestEtcd } from '../harness/etcd.js';
import { freePort } from '../harness/ports.js';
import { DIST, Proc } from '../harness/process.js';
import { sleep, waitFor } from '../harness/wait.js';
import { rssMb, summary, table, writeResults } from './stats.js';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 8000);
/** Another registrar entry file to compare with (its node_modules above it). */
const BASELINE = process.env.BENCH_REGISTRAR_BASELINE;
/** Host in ETCD_ENDPOINTS: a name (`localhost`) adds a DNS lookup per connection, as `etcd` does in compose. */
const ETCD_HOST = process.env.BENCH_ETCD_HOST ?? '127.0.0.1';
/** Builds to run: some of baseline, cjs, esm. */
const BUILDS = (process.env.BENCH_BUILDS ?? 'baseline,cjs,esm').split(',');
const IMAGE = process.env.BENCH_IMAGE;
/** A node binary from the host to run in the container instead of the image's own (e.g. /usr/bin/node). */
const IMAGE_NODE = process.env.BENCH_IMAGE_NODE;
/**
 * The app answers 503 for this long after the registrar's first health request, as an app that
 * starts slower than the registrar does: then `ready ms` is app ready (first 200) → record in etcd.
 */
const APP_SLOW_MS = Number(process.env.BENCH_APP_SLOW_MS ?? 0);

const FLAG_SETS: Record<string, string[]> = {
  none: [],
  semi1: ['--max-semi-space-size=1'],
  lite: ['--lite-mode', '--no-expose-wasm'],
  'lite+semi1': ['--lite-mode', '--no-expose-wasm', '--max-semi-space-size=1'],
  'jitless+semi1': ['--jitless', '--no-expose-wasm', '--max-semi-space-size=1'],
  'lite+semi1+old16': ['--lite-mode', '--no-expose-wasm', '--max-semi-space-size=1', '--max-old-space-size=16'],
  'lite+arena1': ['--lite-mode', '--no-expose-wasm', 'MALLOC_ARENA_MAX=1'],
  'lite+arena1+pools': ['--lite-mode', '--no-expose-wasm', 'MALLOC_ARENA_MAX=1', '--v8-pool-size=1', 'UV_THREADPOOL_SIZE=1'],
  'lite+single': ['--lite-mode', '--no-expose-wasm', '--single-threaded', 'MALLOC_ARENA_MAX=1', 'UV_THREADPOOL_SIZE=1'],
};
const FLAGS = (process.env.BENCH_FLAGS ?? Object.keys(FLAG_SETS).join(',')).split(',');

interface Run {
  startMs: number;
  joinMs: number;
  /** with BENCH_APP_SLOW_MS: the app's first 200 → record in etcd */
  readyMs: number;
  rssMb: number;
  hwmMb: number;
}

/** An app that answers 200 (after APP_SLOW_MS) and remembers when its first request came and its first 200 went. */
async function app() {
  const port = await freePort();
  let first: number | undefined;
  let firstOk: number | undefined;
  const server = createServer((_req, res) => {
    const now = performance.timeOrigin + performance.now();
    first ??= now;
    if (now < first + APP_SLOW_MS) return void res.writeHead(503).end();
    firstOk ??= now;
    res.writeHead(200).end();
  }).listen(port, '127.0.0.1');
  return { port, first: () => first, firstOk: () => firstOk, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const vm = (status: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]) / 1024;

/** A flag set's `NAME=value` items are environment variables, the rest Node flags. */
const isEnv = (f: string) => /^[A-Z_]+=/.test(f);

async function once(etcd: TestEtcd, entry: string, flagSet: string[], id: string): Promise<Run> {
  const flags = flagSet.filter((f) => !isEnv(f));
  const a = await app();
  const key = `/nodes/webapp/${id}`;
  const env: Record<string, string> = {
    ETCD_ENDPOINTS: etcd.endpoint.replace('127.0.0.1', ETCD_HOST),
    PORT: String(a.port),
    NODE_ID: id,
    ADVERTISE_ADDRESS: '127.0.0.1',
    REGISTRAR_HEALTH_PORT: '0',
    LEASE_TTL: '2',
    ...Object.fromEntries(flagSet.filter(isEnv).map((f) => f.split('=', 2) as [string, string])),
  };
  let t0 = Date.now();
  const p = IMAGE ? inContainer(id, entry, flags, env) : new Proc(id, process.execPath, [...flags, entry], env);
  try {
    await waitFor(a.first, 'first health request', 30000, 2);
    await waitFor(async () => (await etcd.client.get(key).string()) !== null, 'record in etcd', 10000, 1);
    const joinAt = performance.timeOrigin + performance.now();
    if (IMAGE) t0 = Number(/^exec-at (\d+)$/m.exec(p.lines.join('\n'))?.[1]) / 1e6;
    await sleep(HOLD_MS);
    const pid = IMAGE ? execFileSync('docker', ['inspect', '-f', '{{.State.Pid}}', id], { encoding: 'utf8' }).trim() : p.child.pid;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    if (!p.running) throw new Error(`${id} exited: ${p.lines.join('\n')}`);
    return { startMs: a.first()! - t0, joinMs: joinAt - t0, readyMs: joinAt - a.firstOk()!, rssMb: rssMb(status), hwmMb: vm(status, 'VmHWM') };
  } finally {
    await p.stop();
    await a.close();
    await etcd.client.delete().key(key).exec();
  }
}

/** `docker run` of the registrar in IMAGE, with the dist/ folder holding `entry` mounted on /app/dist. */
function inContainer(name: string, entry: string, flags: string[], env: Record<string, string>): Proc {
  const at = entry.lastIndexOf('/dist/');
  const dist = entry.slice(0, at + 5);
  const args = ['run', '--rm', '--name', name, '--label', 'leasehold.bench=registrar', '--network', 'host', '-v', `${dist}:/app/dist:ro`];
  if (IMAGE_NODE) args.push('-v', `${IMAGE_NODE}:/opt/host-node:ro`);
  for (const [k, v] of Object.entries(env)) args.push('-e', `${k}=${v}`);
  const cmd = [IMAGE_NODE ? '/opt/host-node' : 'node', ...flags, `/app/dist${entry.slice(at + 5)}`];
  return new Proc(name, 'docker', [...args, IMAGE!, 'sh', '-c', 'echo "exec-at $(date +%s%N)"; exec "$@"', 'sh', ...cmd]);
}

async function main(): Promise<void> {
  const all: [string, string | undefined][] = [['baseline', BASELINE], ['cjs', `${DIST}cjs/registrar/main.js`], ['esm', `${DIST}registrar/main.js`]];
  const builds = all.filter((b): b is [string, string] => b[1] !== undefined && BUILDS.includes(b[0]));
  const etcd = await TestEtcd.start();
  const results: Record<string, Record<string, Record<keyof Run, ReturnType<typeof summary>>>> = {};
  const rows: (string | number)[][] = [];
  try {
    for (const [build, entry] of builds) {
      results[build] = {};
      for (const f of FLAGS) {
        const runs: Run[] = [];
        for (let i = 0; i < REPS; i++) runs.push(await once(etcd, entry, FLAG_SETS[f]!, `bench-${build}-${i}`));
        const s = (k: keyof Run) => summary(runs.map((r) => r[k]));
        results[build]![f] = { startMs: s('startMs'), joinMs: s('joinMs'), readyMs: s('readyMs'), rssMb: s('rssMb'), hwmMb: s('hwmMb') };
        rows.push([build, f, s('startMs').median, s('joinMs').median, s('readyMs').median, s('rssMb').median, s('rssMb').max, s('hwmMb').median]);
        console.log(`${build} ${f}: ${JSON.stringify(runs.map((r) => [Math.round(r.startMs), Math.round(r.joinMs), Math.round(r.readyMs), Math.round(r.rssMb * 10) / 10]))}`);
      }
    }
  } finally {
    await etcd.stop();
  }
  const where = IMAGE ? `in ${IMAGE}${IMAGE_NODE ? ` with the host's ${IMAGE_NODE}` : ''}` : `Node ${process.version} on the host`;
  table(`registrar alone, ${where}, etcd at ${ETCD_HOST}, app ready ${APP_SLOW_MS} ms after the first check, n = ${REPS}, held ${HOLD_MS} ms`, ['build', 'flags', 'start ms', 'join ms', 'ready ms', 'RSS MB median', 'RSS MB max', 'HWM MB median'], rows);
  console.log(`\nwrote ${writeResults((IMAGE ? (IMAGE_NODE ? 'registrar-container-host-node' : 'registrar-container') : 'registrar') + (APP_SLOW_MS ? '-slow-app' : ''), { reps: REPS, holdMs: HOLD_MS, appSlowMs: APP_SLOW_MS, where, etcdHost: ETCD_HOST, flags: FLAG_SETS, results })}`);
}

await main();
