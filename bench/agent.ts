#!/usr/bin/env node
// The per-host agent on a compose stack (compose.yml's `labelled`: busybox httpd, registered by
// its labels), BENCH_REPS times (default 5):
// - join: `docker start` of a stopped labelled container → the first request it serves through
//   the LB (keep-alive poller), and from Docker's StartedAt;
// - leave: `docker stop` → the record gone (the agent's log) and the last request that reached it;
// - the agent's memory (resident, private, PSS) with 3 and with 30 labelled containers.
// Writes bench/results/agent.json. Images tagged LEASEHOLD_TAG (default `bench`).
import { ComposeStack, buildImages, docker } from '../harness/compose.js';
import { sleep, waitFor } from '../harness/wait.js';
import { clock, guardedTeardown, loadAverage, machine, round, smapsRollupMb } from './machine.js';
import { log } from './parts.js';
import { firstAnswer, lastReached, startPoller } from './poller.js';
import { summary, table, writeResults } from './stats.js';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const HOST = 'labelled.localhost';

async function memory(stack: ComposeStack): Promise<{ rssMb: number; privateMb: number; pssMb: number }> {
  return smapsRollupMb((await stack.exec('agent', ['cat', '/proc/1/smaps_rollup'], 10000)).stdout);
}

async function labelledIds(stack: ComposeStack): Promise<{ id: string; hostname: string }[]> {
  return Promise.all((await stack.containers('labelled')).map(async (c) => ({ id: c.Id, hostname: (await docker.getContainer(c.Id).inspect()).Config.Hostname })));
}

async function recordIds(stack: ComposeStack): Promise<string[]> {
  return (await stack.recordsOf('labelled')).map((r) => r.id).sort();
}

async function main(): Promise<void> {
  process.env.LEASEHOLD_TAG ||= 'bench';
  const results: Record<string, any> = { machine: machine(), tag: process.env.LEASEHOLD_TAG, reps: REPS };
  if (process.env.BENCH_BUILD !== '0') await buildImages();
  const stack = new ComposeStack();
  const teardown = guardedTeardown(() => stack.down(), 20 * 60000);
  try {
    log(`up: project ${stack.project}, load average ${Object.values(loadAverage()).join(' ')}`);
    await stack.up({ webapps: 1 });
    await stack.compose(['up', '-d', '--no-build', '--no-recreate', '--scale', 'labelled=3', 'labelled']);
    await waitFor(async () => (await recordIds(stack)).length === 3, 'three labelled records', 60000, 250);
    await sleep(2000);
    const joins: Record<string, number>[] = [];
    const leaves: Record<string, number>[] = [];
    for (let i = 0; i < REPS; i++) {
      const [victim] = await labelledIds(stack);
      const c = docker.getContainer(victim!.id);
      const is = (a: { host?: string }) => a.host === victim!.hostname;
      // Leave: docker stop (busybox ignores TERM as PID 1: Docker kills it after 10 s, out of rotation by then).
      const lp = startPoller(stack.url, { mode: 'keepalive', gapMs: 2, maxMs: 20000, maxRequests: 50000, host: HOST, path: '/who' });
      await lp.ready;
      await sleep(500);
      const t0 = clock();
      const stopping = c.stop({ t: 10 });
      await waitFor(async () => !(await recordIds(stack)).includes(victim!.hostname), 'record gone', 15000, 20);
      const recordGone = clock() - t0;
      await sleep(1000);
      const la = await lp.stop();
      await stopping;
      leaves.push({ lastRequestMs: round(lastReached(la, t0, is) ?? NaN), recordGoneMs: round(recordGone), failed: la.filter((a) => a.sentAt >= t0 && a.status !== 200).length });
      // Join: docker start of the same container.
      const jp = startPoller(stack.url, { mode: 'keepalive', gapMs: 2, maxMs: 30000, maxRequests: 100000, host: HOST, path: '/who', until: (a) => is(a) });
      await jp.ready;
      const t1 = clock();
      await c.start();
      const ja = await jp.done;
      const first = firstAnswer(ja, t1, is);
      const startedAt = Date.parse((await c.inspect()).State.StartedAt);
      const wallAtT1 = Date.now() - (clock() - t1);
      joins.push({ startToFirstMs: round(first ?? NaN), processToFirstMs: round((first ?? NaN) - (startedAt - wallAtT1)), failed: ja.filter((a) => a.status !== 200).length });
      await waitFor(async () => (await recordIds(stack)).length === 3, 'three again', 30000, 250);
      await sleep(1000);
      log(`rep ${i + 1}: join ${JSON.stringify(joins.at(-1))}, leave ${JSON.stringify(leaves.at(-1))}`);
    }
    results.join = { startToFirst: summary(joins.map((j) => j.startToFirstMs!)), processToFirst: summary(joins.map((j) => j.processToFirstMs!)), failed: joins.reduce((n, j) => n + j.failed!, 0), reps: joins };
    results.leave = { recordGone: summary(leaves.map((l) => l.recordGoneMs!)), lastRequest: summary(leaves.map((l) => l.lastRequestMs!)), failed: leaves.reduce((n, l) => n + l.failed!, 0), reps: leaves };
    results.memory3 = await memory(stack);
    await stack.compose(['up', '-d', '--no-build', '--no-recreate', '--scale', 'labelled=30', 'labelled'], 300000);
    await waitFor(async () => (await recordIds(stack)).length === 30, 'thirty labelled records', 180000, 1000);
    await sleep(5000);
    results.memory30 = await memory(stack);
    table(`per-host agent, ${REPS} reps, busybox httpd (labelled)`, ['figure', 'median', 'max'], [
      ['docker start → first request served, ms', results.join.startToFirst.median, results.join.startToFirst.max],
      ['process started (StartedAt) → first request served, ms', results.join.processToFirst.median, results.join.processToFirst.max],
      ['docker stop → record gone (polled through etcdctl), ms', results.leave.recordGone.median, results.leave.recordGone.max],
      ['docker stop → last request that reached it, ms', results.leave.lastRequest.median, results.leave.lastRequest.max],
    ]);
    table('agent memory (PID 1 of its container)', ['labelled containers', 'resident MB', 'private MB', 'PSS MB'], [
      [3, results.memory3.rssMb, results.memory3.privateMb, results.memory3.pssMb],
      [30, results.memory30.rssMb, results.memory30.privateMb, results.memory30.pssMb],
    ]);
    console.log(`failed requests: join ${results.join.failed}, leave ${results.leave.failed}`);
    console.log(`\nwrote ${writeResults('agent', results)}`);
  } finally {
    await teardown();
  }
}

void main();
