#!/usr/bin/env node
// The whole product against a real compose stack (etcd, HAProxy + renderer, webapps with registrars),
// default settings (LEASE_TTL 5, DRAIN_MS 3000):
// 1. join: `docker start` of a stopped webapp → first request served by it through the LB;
// 2. graceful leave: `docker stop` (SIGTERM) → HAProxy's stats no longer show the server UP;
// 3. crash: SIGKILL → server gone from HAProxy's config (and when HAProxy first marked it DOWN);
//    1-3 each under a light fresh-connection load whose failed requests are counted;
// 4. churn under 100 req/s for 60 s: scale 2→6, kill 2, stop 2, back to 2;
// 5. resident memory of registrar, renderer, haproxy (master + current worker) and etcd in the containers.
// Writes bench/results/convergence.json, with bench/results/renderer.json embedded under "renderer".
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { ComposeStack, buildImages, docker } from '../test/helpers/compose.js';
import { type LoadResult, type Sample, startLoad } from '../test/helpers/load.js';
import { sleep } from '../test/helpers/wait.js';
import { RESULTS, type Summary, summary, table, writeResults } from './stats.js';

const REPS = Number(process.env.BENCH_REPS ?? 5);
/** Light load during sections 1-3, requests a second. */
const LIGHT_RPS = Number(process.env.BENCH_LIGHT_RPS ?? 50);
const CHURN_RPS = 100;
const CHURN_SECONDS = 60;
/** Webapps during sections 1-3: one can leave and two still serve. */
const WEBAPPS = 3;
/** Hard limit on the whole run; the stack is torn down either way. */
const WATCHDOG_MS = 20 * 60000;

const now = () => performance.now();
const log = (msg: string) => console.log(`[${new Date().toISOString().slice(11, 23)}] ${msg}`);

/** One GET on a fresh connection; the answering container's hostname, or undefined. */
function probe(url: string, timeoutMs = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => {
        try {
          resolve(res.statusCode === 200 ? JSON.parse(body).host : undefined);
        } catch {
          resolve(undefined);
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** In rotation = HAProxy reports the server UP (incl. "UP 1/2", a failed check below `fall`). */
const inRotation = (status: string) => status === 'UP' || status.startsWith('UP ');

interface Watch {
  /** ms from t0 to the first poll that saw the server not UP (or absent) */
  outMs?: number;
  /** the status seen then ("gone" if absent) */
  outStatus?: string;
  /** ms from t0 to the first poll without the server */
  goneMs?: number;
  /** every status change seen, ms from t0 */
  changes: { ms: number; status: string }[];
}

/** Polls the stats CSV every ~5 ms until `server` is gone (or `timeoutMs`). */
async function watchServer(stack: ComposeStack, server: string, t0: number, timeoutMs: number): Promise<Watch> {
  const w: Watch = { changes: [] };
  let last = '';
  const deadline = t0 + timeoutMs;
  while (now() < deadline) {
    let rows;
    try {
      rows = await stack.stats();
    } catch {
      await sleep(5);
      continue;
    }
    const ms = now() - t0;
    const row = rows.find((r) => r.server === server);
    const status = row ? row.status : 'gone';
    if (status !== last) w.changes.push({ ms: Math.round(ms * 10) / 10, status });
    last = status;
    if (w.outMs === undefined && (!row || !inRotation(row.status))) {
      w.outMs = ms;
      w.outStatus = status;
    }
    if (!row) {
      w.goneMs = ms;
      return w;
    }
    await sleep(5);
  }
  return w;
}

/** Polls the LB with fresh connections every ~5 ms until `host` answers; ms from t0. */
async function firstServedBy(url: string, host: string, t0: number, timeoutMs: number): Promise<number | undefined> {
  while (now() - t0 < timeoutMs) {
    const started = now();
    if ((await probe(url)) === host) return now() - t0;
    await sleep(Math.max(0, 5 - (now() - started)));
  }
  return undefined;
}

const hostnameOf = async (id: string) => (await docker.getContainer(id).inspect()).Config.Hostname;

interface SectionLoad {
  requests: number;
  failed: number;
  p50: number;
  p99: number;
  /** requests slower than 100 ms / 1 s */
  over100ms: number;
  over1s: number;
  failures: (Sample & { rep: number })[];
}

const latencies = new WeakMap<SectionLoad, number[]>();
function addLoad(acc: SectionLoad, rep: number, r: LoadResult): void {
  acc.requests += r.samples.length;
  acc.failed += r.failed.length;
  acc.failures.push(...r.failed.map((s) => ({ rep, ...s })));
  acc.over100ms += r.samples.filter((s) => s.latencyMs > 100).length;
  acc.over1s += r.samples.filter((s) => s.latencyMs > 1000).length;
  latencies.get(acc)!.push(...r.samples.map((s) => s.latencyMs));
}
/** p50/p99 latency over all reps of a section. */
function finishLoad(acc: SectionLoad): void {
  const lat = (latencies.get(acc) ?? []).sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]! : 0);
  acc.p50 = pct(50);
  acc.p99 = pct(99);
}
function emptyLoad(): SectionLoad {
  const l = { requests: 0, failed: 0, p50: 0, p99: 0, over100ms: 0, over1s: 0, failures: [] };
  latencies.set(l, []);
  return l;
}

/** A light load around one action; stopped when `done` resolves (and `tailMs` later). */
async function underLoad<T>(url: string, action: () => Promise<T>, tailMs = 1000): Promise<{ value: T; load: LoadResult }> {
  const load = startLoad(url, { rps: LIGHT_RPS, maxSeconds: 60 });
  await sleep(1000);
  try {
    const value = await action();
    await sleep(tailMs);
    return { value, load: await load.stop() };
  } catch (err) {
    await load.stop();
    throw err;
  }
}

const loadRow = (l: SectionLoad) => [l.requests, l.failed, l.p50, l.p99, l.over100ms, l.over1s];

/** Per second of a load: requests, failed, slower than 100 ms, max latency. */
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

const round = (s: Summary) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, Number.isInteger(v) ? v : Math.round(v * 10) / 10]));
const row = (what: string, values: number[]) => {
  const s = summary(values);
  return [what, s.n, s.min, s.median, s.max];
};

/** Resident memory (MB) of the product's processes inside the running containers, from `docker top`. */
async function memory(stack: ComposeStack) {
  type Proc = { pid: number; ppid: number; etimes: number; rssMb: number; args: string };
  const top = async (id: string): Promise<Proc[]> => {
    const t = await docker.getContainer(id).top({ ps_args: '-eo pid,ppid,etimes,rss,args' });
    const col = (name: string) => t.Titles.findIndex((x: string) => x.trim().toUpperCase() === name);
    const [pid, ppid, etimes, rss, args] = ['PID', 'PPID', 'ELAPSED', 'RSS', 'COMMAND'].map(col);
    return t.Processes.map((p: string[]) => ({
      pid: Number(p[pid!]),
      ppid: Number(p[ppid!]),
      etimes: Number(p[etimes!]),
      rssMb: Number(p[rss!]) / 1024,
      args: p[args!]!,
    }));
  };
  const mb = (x: number) => Math.round(x * 10) / 10;
  const [ha] = await stack.containers('ha');
  const [etcd] = await stack.containers('etcd');
  const haProcs = await top(ha!.Id);
  const renderer = haProcs.filter((p) => p.args.includes('dist/renderer/main.js'));
  // haproxy processes of the running instance; not a passing `haproxy -c` of the renderer.
  const hap = haProcs.filter((p) => /^(\S*\/)?haproxy\s/.test(p.args) && !/\s-c(\s|$)/.test(p.args));
  const master = hap.find((p) => !hap.some((q) => q.pid === p.ppid));
  const workers = hap.filter((p) => master && p.ppid === master.pid).sort((a, b) => a.etimes - b.etimes);
  const etcdProcs = (await top(etcd!.Id)).filter((p) => /^(\S*\/)?etcd(\s|$)/.test(p.args));
  const registrars: { container: string; rssMb: number }[] = [];
  const apps: { container: string; rssMb: number }[] = [];
  for (const c of await stack.containers('webapp')) {
    const procs = await top(c.Id);
    for (const p of procs.filter((x) => /dist\/(cjs\/)?registrar\/main\.js/.test(x.args))) registrars.push({ container: c.Id.slice(0, 12), rssMb: mb(p.rssMb) });
    for (const p of procs.filter((x) => x.args.includes('dist/images/webapp/server.js'))) apps.push({ container: c.Id.slice(0, 12), rssMb: mb(p.rssMb) });
  }
  return {
    registrar: registrars,
    registrarMax: mb(Math.max(...registrars.map((r) => r.rssMb))),
    renderer: mb(renderer.reduce((a, p) => a + p.rssMb, 0)),
    haproxyMaster: master ? mb(master.rssMb) : NaN,
    haproxyWorker: workers[0] ? mb(workers[0].rssMb) : NaN,
    haproxyOldWorkers: workers.slice(1).map((w) => mb(w.rssMb)),
    etcd: mb(etcdProcs.reduce((a, p) => a + p.rssMb, 0)),
    webappApp: apps,
    processes: {
      ha: haProcs.map((p) => ({ ...p, rssMb: mb(p.rssMb) })),
    },
  };
}

async function main(): Promise<void> {
  const t00 = Date.now();
  log('building images (layer cache makes repeats quick)');
  await buildImages();
  const stack = new ComposeStack();
  const results: Record<string, unknown> = { reps: REPS, lightRps: LIGHT_RPS, webapps: WEBAPPS, settings: { LEASE_TTL: 5, DRAIN_MS: 3000 } };
  let tornDown = false;
  const teardown = async () => {
    if (tornDown) return;
    tornDown = true;
    log(`tearing down ${stack.project}`);
    await stack.down();
  };
  const watchdog = setTimeout(() => {
    console.error(`watchdog: run exceeded ${WATCHDOG_MS / 60000} min`);
    void teardown().finally(() => process.exit(1));
  }, WATCHDOG_MS);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void teardown().finally(() => process.exit(130)));

  try {
    log(`up: project ${stack.project}, ${WEBAPPS} webapps`);
    await stack.up({ webapps: WEBAPPS, env: { LEASEHOLD_BENCH: '1' } });
    await stack.converged(90000);
    log(`converged; LB ${stack.url}, stats ${stack.statsUrl}`);

    const join: number[] = [];
    const leaveOut: number[] = [];
    const leaveGone: number[] = [];
    const stopReturn: number[] = [];
    const crashDown: number[] = [];
    const crashGone: number[] = [];
    const loads = { join: emptyLoad(), leave: emptyLoad(), crash: emptyLoad() };
    const detail: Record<string, unknown>[] = [];

    for (let rep = 0; rep < REPS; rep++) {
      const running = await stack.containers('webapp');
      const victim = running[rep % running.length]!;
      const host = await hostnameOf(victim.Id);
      const c = docker.getContainer(victim.Id);
      const d: Record<string, unknown> = { rep, leaveHost: host };

      // 2. graceful leave
      const leave = await underLoad(stack.url, async () => {
        const t0 = now();
        const stopped = c.stop({ t: 10 }).then(() => now() - t0);
        const w = await watchServer(stack, host, t0, 15000);
        return { w, stopMs: await stopped };
      });
      if (leave.value.w.outMs === undefined) throw new Error(`leave rep ${rep}: ${host} still UP after 15 s`);
      leaveOut.push(leave.value.w.outMs);
      if (leave.value.w.goneMs !== undefined) leaveGone.push(leave.value.w.goneMs);
      stopReturn.push(leave.value.stopMs);
      addLoad(loads.leave, rep, leave.load);
      d.leave = { ...leave.value.w, stopMs: leave.value.stopMs, requests: leave.load.samples.length, failed: leave.load.failed.length };
      await stack.converged(60000);

      // 1. join: the same container back
      const joined = await underLoad(stack.url, async () => {
        const t0 = now();
        await c.start();
        const ms = await firstServedBy(stack.url, host, t0, 30000);
        if (ms === undefined) throw new Error(`join rep ${rep}: ${host} never served within 30 s`);
        return ms;
      });
      join.push(joined.value);
      addLoad(loads.join, rep, joined.load);
      d.join = { ms: joined.value, requests: joined.load.samples.length, failed: joined.load.failed.length };
      await stack.converged(60000);

      // 3. crash: another container, SIGKILL
      const others = (await stack.containers('webapp')).filter((x) => x.Id !== victim.Id);
      const crashed = others[rep % others.length]!;
      const crashHost = await hostnameOf(crashed.Id);
      const k = docker.getContainer(crashed.Id);
      const crash = await underLoad(stack.url, async () => {
        const t0 = now();
        await k.kill();
        return watchServer(stack, crashHost, t0, 30000);
      });
      const w = crash.value;
      const down = w.changes.find((x) => x.status.startsWith('DOWN'));
      if (w.goneMs === undefined) throw new Error(`crash rep ${rep}: ${crashHost} still in the config after 30 s (${JSON.stringify(w.changes)})`);
      crashGone.push(w.goneMs);
      if (down) crashDown.push(down.ms);
      addLoad(loads.crash, rep, crash.load);
      const restarted = (await k.inspect()).State.Running;
      d.crash = { host: crashHost, ...w, downMs: down?.ms, restartedByDocker: restarted, requests: crash.load.samples.length, failed: crash.load.failed.length };
      if (!restarted) await k.start();
      await stack.converged(60000);
      detail.push(d);
      log(
        `rep ${rep + 1}/${REPS}: leave out ${leave.value.w.outMs.toFixed(0)} ms (${leave.value.w.outStatus}), join ${joined.value.toFixed(0)} ms, ` +
          `crash DOWN ${down?.ms.toFixed(0) ?? '-'} ms / gone ${w.goneMs.toFixed(0)} ms; failed ${leave.load.failed.length}/${joined.load.failed.length}/${crash.load.failed.length}`,
      );
    }

    for (const l of Object.values(loads)) {
      finishLoad(l);
      l.failures = l.failures.slice(0, 200);
    }
    results.join = { ms: round(summary(join)), raw: join, load: loads.join };
    results.leave = {
      outOfRotationMs: round(summary(leaveOut)),
      goneMs: round(summary(leaveGone)),
      dockerStopReturnsMs: round(summary(stopReturn)),
      raw: leaveOut,
      load: loads.leave,
    };
    results.crash = { downMs: round(summary(crashDown)), goneMs: round(summary(crashGone)), raw: crashGone, load: loads.crash };
    results.repetitions = detail;

    const hdr = ['what', 'n', 'min', 'median', 'max'];
    table('1. join (ms)', hdr, [row('docker start → first request served by it', join)]);
    table('2. graceful leave (ms)', hdr, [
      row('docker stop → not UP in HAProxy stats', leaveOut),
      row('docker stop → gone from HAProxy config', leaveGone),
      row('docker stop returns (drain 3 s + exit)', stopReturn),
    ]);
    table('3. crash (ms)', hdr, [row('SIGKILL → HAProxy marks DOWN', crashDown), row('SIGKILL → gone from HAProxy config', crashGone)]);
    table(`load during 1-3: ${LIGHT_RPS} req/s, fresh connection each, all reps`, ['section', 'requests', 'failed', 'p50 ms', 'p99 ms', '>100 ms', '>1 s'], [
      ['join', ...loadRow(loads.join)],
      ['graceful leave', ...loadRow(loads.leave)],
      ['crash', ...loadRow(loads.crash)],
    ]);
    for (const [k, l] of Object.entries(loads)) for (const f of l.failures.slice(0, 10)) console.log(`  ${k} rep ${f.rep}: at ${f.at} ms status ${f.status} ${f.error ?? ''} ${f.latencyMs} ms`);

    // 5. churn
    log('churn: back to 2 webapps');
    await stack.scale(2);
    await stack.converged(60000);
    const base = (await stack.containers('webapp')).map((c) => c.Id);
    const events: { at: number; what: string; tookMs?: number; error?: string }[] = [];
    const load = startLoad(stack.url, { rps: CHURN_RPS, maxSeconds: CHURN_SECONDS });
    const c0 = now();
    const at = async (sec: number, what: string, f: () => Promise<unknown>) => {
      await sleep(Math.max(0, c0 + sec * 1000 - now()));
      const s = now();
      try {
        await f();
        events.push({ at: Math.round(s - c0), what, tookMs: Math.round(now() - s) });
      } catch (err) {
        events.push({ at: Math.round(s - c0), what, error: (err as Error).message.slice(0, 500) });
      }
      log(`churn +${((s - c0) / 1000).toFixed(1)} s: ${what} (${Math.round(now() - s)} ms)`);
    };
    const added = async () => (await stack.containers('webapp')).filter((c) => !base.includes(c.Id));
    await at(3, 'scale 2→6', () => stack.scale(6));
    await at(20, 'kill 2 (SIGKILL)', async () => {
      for (const c of (await added()).slice(0, 2)) await docker.getContainer(c.Id).kill();
    });
    await at(33, 'stop 2 (docker stop)', async () => Promise.all((await added()).slice(0, 2).map((c) => docker.getContainer(c.Id).stop({ t: 10 }))));
    await at(45, 'scale back to 2', () => stack.scale(2));
    await sleep(Math.max(0, c0 + CHURN_SECONDS * 1000 - now()));
    const churn = await load.stop();
    const churnIds = await stack.converged(60000).catch((e: Error) => e.message);
    results.churn = {
      rps: CHURN_RPS,
      seconds: CHURN_SECONDS,
      requests: churn.samples.length,
      failed: churn.failed.length,
      p50: churn.p50,
      p99: churn.p99,
      maxLatencyMs: Math.max(...churn.samples.map((s) => s.latencyMs)),
      over100ms: churn.samples.filter((s) => s.latencyMs > 100).length,
      over1s: churn.samples.filter((s) => s.latencyMs > 1000).length,
      events,
      timeline: timeline(churn.samples, CHURN_SECONDS),
      endState: churnIds,
      failures: churn.failed.slice(0, 200),
    };
    const cr = results.churn as { maxLatencyMs: number; over100ms: number; over1s: number; timeline: ReturnType<typeof timeline> };
    table(`5. churn under ${CHURN_RPS} req/s for ${CHURN_SECONDS} s`, ['requests', 'failed', 'p50 ms', 'p99 ms', 'max ms', '>100 ms', '>1 s'], [
      [churn.samples.length, churn.failed.length, churn.p50, churn.p99, cr.maxLatencyMs, cr.over100ms, cr.over1s],
    ]);
    const slowSecs = cr.timeline.filter((b) => b.over100ms || b.failed);
    if (slowSecs.length) table('churn: seconds with slow (>100 ms) or failed requests', ['second', 'requests', 'failed', '>100 ms', 'max ms'], slowSecs.map((b) => [b.sec, b.requests, b.failed, b.over100ms, b.maxMs]));
    for (const f of churn.failed.slice(0, 10)) console.log(`  churn: at ${f.at} ms status ${f.status} ${f.error ?? ''} ${f.latencyMs} ms`);
    table('churn events', ['at ms', 'what', 'took ms'], events.map((e) => [e.at, e.what, e.tookMs ?? `error: ${e.error}`]));

    // 6. memory
    const mem = await memory(stack);
    results.rssMb = mem;
    table('6. resident memory in the containers (MB)', ['registrar (max of ' + mem.registrar.length + ')', 'renderer', 'haproxy master', 'haproxy worker', 'etcd'], [
      [mem.registrarMax, mem.renderer, mem.haproxyMaster, mem.haproxyWorker, mem.etcd],
    ]);

    const rendererPath = `${RESULTS}renderer.json`;
    results.renderer = existsSync(rendererPath) ? JSON.parse(readFileSync(rendererPath, 'utf8')) : null;
    results.runSeconds = Math.round((Date.now() - t00) / 1000);
    log(`wrote ${writeResults('convergence', results)} (${results.runSeconds} s)`);
  } finally {
    clearTimeout(watchdog);
    await teardown();
  }
}

await main();
