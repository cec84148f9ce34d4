#!/usr/bin/env node
// The drop-in bundle on a compose stack (compose.yml's `static`: busybox httpd with /opt/leasehold
// and leasehold-run as its ENTRYPOINT), BENCH_REPS times (default 7), each on a new container of
// that image:
// - app listening → the first request it serves through the LB (keep-alive poller): the app
//   writes down the moment (date +%s%N) before it execs httpd, 300 ms after the container starts;
// - process started (Docker's StartedAt) → first request served, and `docker start` → the same,
//   on a container whose app starts at once (the image's own command);
// - docker stop → the last request that reached it (the node leaves before httpd hears TERM);
// - memory: leasehold-run's own (PID 1: resident, private = USS, PSS) and the container's
//   (cgroup usage, and less its inactive page cache as `docker stats` shows it), against a
//   `labelled` container: the same busybox image without the bundle. Warm: two containers of
//   the image running (they share the runtime's page cache); cold: one alone, started after the
//   host's page cache was dropped, so every page it maps is its own and charged to it.
// Writes bench/results/bundle.json. Images tagged LEASEHOLD_TAG (default `bench`).
import { ComposeStack, buildImages, docker } from '../harness/compose.js';
import { sleep, waitFor } from '../harness/wait.js';
import { type Logged, demux, loggedSince } from './compose/container-log.js';
import { clock, guardedTeardown, loadAverage, machine, round, smapsRollupMb } from './machine.js';
import { log } from './parts.js';
import { firstAnswer, lastReached, startPoller } from './poller.js';
import { summary, table, writeResults } from './stats.js';

const REPS = Number(process.env.BENCH_REPS ?? 7);
const HOST = 'static.localhost';
// The keep-alive poller's pause between an answer and the next request: 1 ms finds the first
// request served to within ~1 ms but keeps a core of this 2-core machine busy; BENCH_GAP_MS=5
// shows how much of a join that load costs.
const GAP_MS = Number(process.env.BENCH_GAP_MS || 1);
if (!Number.isFinite(GAP_MS) || GAP_MS < 0) throw new Error(`BENCH_GAP_MS=${process.env.BENCH_GAP_MS}: want a number of ms, 0 or more`);
// The app starts 300 ms after the container: leasehold-run is up and polling by then, so the join
// measured is the bundle's, not Node's start-up (which StartedAt → first served includes).
const CMD = ['sh', '-c', 'echo "static $(hostname)" > /www/who; sleep 0.3; date +%s%N > /www/listen-at; exec busybox httpd -f -p 8080 -h /www'];

/**
 * Where a join's time went, ms after the container's process started: leasehold-run's first log
 * line (its Node up), the app started, registering (the app's check passed), registered (the put
 * answered) and the renderer placing it (the ha container's `node joined`).
 */
async function steps(stack: ComposeStack, id: string, node: string, startedAt: number, firstWall: number, from = 'StartedAt'): Promise<Record<string, number>> {
  const own = await loggedSince(docker.getContainer(id), startedAt);
  const [ha] = await stack.containers('ha');
  const lb = ha ? await loggedSince(docker.getContainer(ha.Id), startedAt) : [];
  const at = (l: Logged[], f: (e: Record<string, any>) => boolean) => {
    const hit = l.find((x) => f(x.e));
    return hit ? hit.at - startedAt : NaN;
  };
  const out = {
    leaseholdRunLogMs: own[0] ? own[0].at - startedAt : NaN,
    appStartedMs: at(own, (e) => e.event === 'app-started'),
    registeringMs: at(own, (e) => e.event === 'state' && e.state === 'registering'),
    registeredMs: at(own, (e) => e.event === 'state' && e.state === 'registered'),
    placedMs: at(lb, (e) => e.event === 'node' && e.change === 'joined' && e.id === node),
  };
  if (process.env.BENCH_DEBUG) {
    for (const x of own) log(`  ${node} +${x.at - startedAt} ${JSON.stringify(x.e).slice(0, 300)}`);
    for (const x of lb.filter((x) => x.e.event !== 'metrics')) log(`  ha +${x.at - startedAt} ${JSON.stringify(x.e).slice(0, 300)}`);
  }
  // Log times are whole milliseconds of each container's clock (the host's): good to a few ms.
  log(`join steps (ms after ${from}): ${JSON.stringify(out)}, first served ${round(firstWall - startedAt)}`);
  return out;
}

/** PID 1's memory (leasehold-run's) in a container. */
async function smaps(id: string) {
  return smapsRollupMb(await exec(id, ['cat', '/proc/1/smaps_rollup']));
}

async function exec(id: string, cmd: string[]): Promise<string> {
  const e = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await e.start({});
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise((r) => stream.on('end', r));
  return demux(Buffer.concat(chunks));
}

/** The container's cgroup memory: usage, and usage less inactive page cache (`docker stats`). */
async function cgroup(id: string): Promise<{ usageMb: number; workingSetMb: number }> {
  const s = (await docker.getContainer(id).stats({ stream: false })) as any;
  const usage = s.memory_stats.usage as number;
  const inactive = (s.memory_stats.stats?.total_inactive_file ?? s.memory_stats.stats?.inactive_file ?? 0) as number;
  return { usageMb: round(usage / 2 ** 20), workingSetMb: round((usage - inactive) / 2 ** 20) };
}

async function records(stack: ComposeStack): Promise<string[]> {
  return (await stack.recordsOf('static')).map((r) => r.id).sort();
}

async function main(): Promise<void> {
  process.env.LEASEHOLD_TAG ||= 'bench';
  const results: Record<string, any> = { machine: machine(), tag: process.env.LEASEHOLD_TAG, reps: REPS, pollerGapMs: GAP_MS };
  if (process.env.BENCH_BUILD !== '0') await buildImages();
  const stack = new ComposeStack();
  const teardown = guardedTeardown(() => stack.down(), 20 * 60000);
  try {
    log(`up: project ${stack.project}, load average ${Object.values(loadAverage()).join(' ')}`);
    await stack.up({ webapps: 1 });
    await stack.compose(['up', '-d', '--no-build', '--no-recreate', '--scale', 'static=2', '--scale', 'labelled=2', 'static', 'labelled']);
    await waitFor(async () => (await records(stack)).length === 2, 'two static records', 60000, 250);
    const [peer] = await stack.containers('static');
    const info = await docker.getContainer(peer!.Id).inspect();
    const joins: Record<string, number>[] = [];
    const leaves: Record<string, number>[] = [];
    const listened: Record<string, number>[] = [];
    for (let i = 0; i < REPS; i++) {
      for (const delayed of [true, false]) {
      const c = await docker.createContainer({
        Image: info.Config.Image,
        ...(delayed && { Cmd: CMD }),
        Env: info.Config.Env,
        Labels: { 'leasehold.test-run': stack.runId, 'com.docker.compose.project': stack.project },
        HostConfig: { NetworkMode: Object.keys(info.NetworkSettings.Networks)[0]!, Binds: info.Mounts.filter((m) => m.Destination === '/etc/leasehold/pki').map((m) => `${m.Name}:/etc/leasehold/pki:ro`) },
      });
      const hostname = c.id.slice(0, 12);
      const is = (a: { host?: string }) => a.host === hostname;
      try {
        const jp = startPoller(stack.url, { mode: 'keepalive', gapMs: GAP_MS, maxMs: 30000, maxRequests: 200000, host: HOST, path: '/who', until: (a) => is(a) });
        await jp.ready;
        const t1 = clock();
        await c.start();
        const ja = await jp.done;
        const first = firstAnswer(ja, t1, is) ?? NaN; // ms after t1
        const firstWall = t1 + first;
        const startedAt = Date.parse((await c.inspect()).State.StartedAt);
        if (delayed) {
          const listenAt = Number(BigInt((await exec(c.id, ['cat', '/www/listen-at'])).trim()) / 1000n) / 1000; // ns → ms
          // Where the time after the app listens goes: its check, the put, the renderer, the LB.
          const after = await steps(stack, c.id, hostname, listenAt, firstWall, 'the app listening');
          listened.push({ registeringMs: after.registeringMs!, registeredMs: after.registeredMs!, placedMs: after.placedMs! });
          joins.push({ listenToFirstMs: round(firstWall - listenAt), failed: ja.filter((a) => a.status !== 200).length });
          // Stopped, not killed: Docker gives the next container this address again, and a killed
          // one's record (alive for its TTL) would hold the endpoint's slot: the next join would
          // then be served when HAProxy's check finds the new app there, not when it registers.
          await c.stop({ t: 10 });
          await waitFor(async () => !(await records(stack)).includes(hostname), 'the stopped container\'s record gone', 15000, 100);
          continue;
        }
        Object.assign(joins.at(-1)!, { processToFirstMs: round(firstWall - startedAt), startToFirstMs: round(first), ...(await steps(stack, c.id, hostname, startedAt, firstWall)) });
        joins.at(-1)!.failed! += ja.filter((a) => a.status !== 200).length;
        await sleep(1500);
        const lp = startPoller(stack.url, { mode: 'keepalive', gapMs: GAP_MS, maxMs: 20000, maxRequests: 100000, host: HOST, path: '/who' });
        await lp.ready;
        await sleep(300);
        const t0 = clock();
        await c.stop({ t: 10 });
        const stopped = clock() - t0;
        await sleep(500);
        const la = await lp.stop();
        leaves.push({ lastRequestMs: round(lastReached(la, t0, is) ?? NaN), stopMs: round(stopped), exitCode: (await c.inspect()).State.ExitCode, failed: la.filter((a) => a.sentAt >= t0 && a.status !== 200).length });
      } finally {
        await c.remove({ force: true });
      }
      }
      log(`rep ${i + 1}: join ${JSON.stringify(joins.at(-1))}, leave ${JSON.stringify(leaves.at(-1))}`);
      await sleep(1000);
    }
    const stepNames = ['leaseholdRunLogMs', 'appStartedMs', 'registeringMs', 'registeredMs', 'placedMs'] as const;
    results.join = {
      // Each step of the joins with the image's own command, ms after StartedAt (medians).
      steps: Object.fromEntries(stepNames.map((k) => [k, summary(joins.map((j) => j[k]!).filter((v) => Number.isFinite(v))).median])),
      listenToFirst: summary(joins.map((j) => j.listenToFirstMs!)),
      // The joins of the app that listens late: each step, ms after it listens (medians).
      listenSteps: Object.fromEntries(['registeringMs', 'registeredMs', 'placedMs'].map((k) => [k, summary(listened.map((j) => j[k]!).filter((v) => Number.isFinite(v))).median])),
      processToFirst: summary(joins.map((j) => j.processToFirstMs!)),
      startToFirst: summary(joins.map((j) => j.startToFirstMs!)),
      failed: joins.reduce((n, j) => n + j.failed!, 0),
      reps: joins,
    };
    results.leave = { lastRequest: summary(leaves.map((l) => l.lastRequestMs!)), stop: summary(leaves.map((l) => l.stopMs!)), failed: leaves.reduce((n, l) => n + l.failed!, 0), reps: leaves };

    await sleep(3000);
    const withIds = (await stack.containers('static')).map((c) => c.Id);
    const withoutIds = (await stack.containers('labelled')).map((c) => c.Id);
    const registrar = await Promise.all(withIds.map((id) => smaps(id)));
    const withBundle = await Promise.all(withIds.map(cgroup));
    const without = await Promise.all(withoutIds.map(cgroup));
    const mean = (xs: number[]) => round(xs.reduce((a, b) => a + b, 0) / xs.length);
    results.memory = {
      leaseholdRun: { rssMb: mean(registrar.map((m) => m.rssMb)), privateMb: mean(registrar.map((m) => m.privateMb)), pssMb: mean(registrar.map((m) => m.pssMb)), each: registrar },
      containerWith: { usageMb: mean(withBundle.map((m) => m.usageMb)), workingSetMb: mean(withBundle.map((m) => m.workingSetMb)), each: withBundle },
      containerWithout: { usageMb: mean(without.map((m) => m.usageMb)), workingSetMb: mean(without.map((m) => m.workingSetMb)), each: without },
    };
    const m = results.memory;
    m.addedMb = { usage: round(m.containerWith.usageMb - m.containerWithout.usageMb), workingSet: round(m.containerWith.workingSetMb - m.containerWithout.workingSetMb) };

    // Cold: one container of the image alone, its files out of the page cache (root only).
    await stack.compose(['up', '-d', '--no-build', '--scale', 'static=0', 'static']);
    await waitFor(async () => (await records(stack)).length === 0, 'no static records', 30000, 250);
    const { execFileSync } = await import('node:child_process');
    execFileSync('sh', ['-c', 'sync && echo 3 > /proc/sys/vm/drop_caches']);
    await stack.compose(['up', '-d', '--no-build', '--scale', 'static=1', 'static']);
    await waitFor(async () => (await records(stack)).length === 1, 'one static record', 60000, 250);
    await sleep(5000);
    const [alone] = await stack.containers('static');
    m.cold = { leaseholdRun: await smaps(alone!.Id), container: await cgroup(alone!.Id), without: without[0] };
    m.cold.addedMb = round(m.cold.container.usageMb - m.cold.without.usageMb);

    table(`drop-in bundle (static: busybox httpd + leasehold-run), ${REPS} reps`, ['figure', 'median', 'max', 'target'], [
      ['app listening → first request served through the LB, ms', results.join.listenToFirst.median, results.join.listenToFirst.max, '≤ 30'],
      ['process started (StartedAt) → first request served, ms', results.join.processToFirst.median, results.join.processToFirst.max, '≤ 250'],
      ['docker start → first request served, ms', results.join.startToFirst.median, results.join.startToFirst.max, ''],
      ['docker stop → last request that reached it, ms', results.leave.lastRequest.median, results.leave.lastRequest.max, ''],
      ['docker stop → container ended, ms', results.leave.stop.median, results.leave.stop.max, ''],
    ]);
    table('memory (MB; warm: mean of 2 containers each; cold: one alone after the page cache was dropped)', ['figure', 'value', 'target'], [
      ['warm: leasehold-run resident / PSS', `${m.leaseholdRun.rssMb} / ${m.leaseholdRun.pssMb}`, ''],
      ['warm: leasehold-run private (USS)', m.leaseholdRun.privateMb, '≤ 12'],
      ['warm: container with the bundle: cgroup usage / less inactive cache', `${m.containerWith.usageMb} / ${m.containerWith.workingSetMb}`, ''],
      ['the same image without it (labelled)', `${m.containerWithout.usageMb} / ${m.containerWithout.workingSetMb}`, ''],
      ['warm: added by the bundle', `${m.addedMb.usage} / ${m.addedMb.workingSet}`, '≤ 15'],
      ['cold: leasehold-run resident / private (USS)', `${m.cold.leaseholdRun.rssMb} / ${m.cold.leaseholdRun.privateMb}`, '≤ 12'],
      ['cold: container with the bundle, cgroup usage', m.cold.container.usageMb, ''],
      ['cold: added by the bundle', m.cold.addedMb, '≤ 15'],
    ]);
    console.log(`the join with the image's own command, ms after StartedAt (medians): ${JSON.stringify(results.join.steps)}, first request served ${results.join.processToFirst.median}`);
    console.log(`the join of the app that listens late, ms after it listens (medians): ${JSON.stringify(results.join.listenSteps)}, first request served ${results.join.listenToFirst.median}`);
    console.log(`failed requests: join ${results.join.failed}, leave ${results.leave.failed}; exit codes ${leaves.map((l) => l.exitCode).join(',')}`);
    console.log(`\nwrote ${writeResults('bundle', results)}`);
  } finally {
    await teardown();
  }
}

void main();
