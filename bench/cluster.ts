#!/usr/bin/env node
// The cluster topology (compose.cluster.yml: three etcd members, two LBs, webapps), default
// settings (LEASE_TTL 5), images tagged LEASEHOLD_TAG (default `bench`):
// 1. leader: SIGKILL the etcd leader under keep-alive load through both LBs; failed requests, time
//    to a new leader, to every registrar seen on the majority, and to the member's rejoin;
// 2. lb: SIGKILL one LB's PID 1 under load on the other; failed requests there, time until the
//    killed one answers again, has the full live set, and both LBs agree (`leasehold status`);
// 3. churn: bench/compose/churn.ts (100 req/s keep-alive for 60 s: 2→6, kill 2, stop 2, back
//    to 2) through LB 1, then whether both LBs converge.
// Writes bench/results/cluster.json. BENCH_REPS sets repetitions of 1 and 2 (default 3);
// BENCH_ONLY runs some parts only (leader,lb,churn); BENCH_BUILD=0 skips the build.
import { ClusterStack, MEMBERS } from '../harness/cluster.js';
import { buildImages, docker } from '../harness/compose.js';
import { get } from '../harness/http.js';
import { sleep, waitFor } from '../harness/wait.js';
import { churn } from './compose/churn.js';
import { LoadTally, startLoads } from './compose/loads.js';
import { clock, guardedTeardown, loadAverage, machine, round } from './machine.js';
import { Parts, log } from './parts.js';
import { LOAD_HEADER, type LoadFigures, type Summary, churnRows, loadRow, summary, table, writeResults } from './stats.js';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const TTL_S = 5;
const WEBAPPS = 3;
const RPS = 50;
const FRESH_RPS = 5;
const WATCHDOG_MS = 20 * 60000;

const since = (t0: number) => round(clock() - t0, 0);

async function leaderKills(stack: ClusterStack) {
  const tallies = Object.fromEntries(stack.lbs.flatMap((lb) => [[`${lb.name} keepalive`, new LoadTally(`${lb.name}: keep-alive GET with cookies, ${RPS} req/s`)], [`${lb.name} fresh`, new LoadTally(`${lb.name}: fresh-connection GET, ${FRESH_RPS} req/s`)]]));
  const newLeaderMs: number[] = [];
  const registeredMs: number[] = [];
  const rejoinMs: number[] = [];
  const lostLeases: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const live = await stack.convergedBoth(60000);
    const loads = stack.lbs.map((lb) => ({ lb, ...startLoads(lb.url, RPS, FRESH_RPS, 120) }));
    await sleep(1000);
    const leader = await stack.leader();
    const rest = MEMBERS.filter((m) => m !== leader);
    const member = await stack.containerOf(leader);
    const t0 = clock();
    await member.kill();
    await waitFor(() => stack.leader(rest).catch(() => undefined), 'a new leader', 30000, 100);
    newLeaderMs.push(since(t0));
    await waitFor(async () => {
      const recs = new Set((await stack.etcdRecords(rest)).map((r) => r.id));
      return live.every((h) => recs.has(h));
    }, 'every record readable on the majority', 30000, 100);
    registeredMs.push(since(t0));
    // Two TTLs on: a registrar whose keepalives did not reach the new leader has lost its lease.
    await sleep(2 * TTL_S * 1000);
    const recs = new Set((await stack.etcdRecords(rest)).map((r) => r.id));
    lostLeases.push(live.filter((h) => !recs.has(h)).length);
    const t1 = clock();
    await member.start();
    await waitFor(() => stack.clusterHealthy().catch(() => false), 'every member healthy', 60000, 250);
    rejoinMs.push(since(t1));
    await sleep(1000);
    for (const l of loads) {
      tallies[`${l.lb.name} keepalive`]!.add(rep, await l.keepalive.stop());
      tallies[`${l.lb.name} fresh`]!.add(rep, await l.fresh.stop());
    }
    log(`leader ${rep + 1}/${REPS}: ${leader} killed; new leader ${newLeaderMs.at(-1)} ms, registrars ${registeredMs.at(-1)} ms, rejoined ${rejoinMs.at(-1)} ms after its start`);
  }
  return {
    newLeaderMs: summary(newLeaderMs),
    registeredMs: summary(registeredMs),
    rejoinMs: summary(rejoinMs),
    lostLeases: lostLeases.reduce((a, b) => a + b, 0),
    loads: Object.fromEntries(Object.entries(tallies).map(([k, v]) => [k, v.figures()])),
  };
}

async function lbKills(stack: ClusterStack) {
  const [lb1, lb2] = stack.lbs;
  const keepalive = new LoadTally(`ha1: keep-alive GET with cookies, ${RPS} req/s`);
  const fresh = new LoadTally(`ha1: fresh-connection GET, ${FRESH_RPS} req/s`);
  const answerMs: number[] = [];
  const liveSetMs: number[] = [];
  const agreeMs: number[] = [];
  for (let rep = 0; rep < REPS; rep++) {
    const live = await stack.convergedBoth(60000);
    const loads = startLoads(lb1.url, RPS, FRESH_RPS, 120);
    await sleep(1000);
    const info = await (await stack.containerOf('ha2')).inspect();
    const t0 = clock();
    process.kill(info.State.Pid, 'SIGKILL');
    await waitFor(async () => (await docker.getContainer(info.Id).inspect()).RestartCount > info.RestartCount, 'ha2 restarted', 30000, 50);
    await waitFor(async () => (await get(`${lb2.statsUrl}/;csv`, {}, 1000)).status === 200, 'ha2 answers', 30000, 50);
    answerMs.push(since(t0));
    await waitFor(async () => (await stack.upOn(lb2)).join() === live.join(), 'ha2 with the live set', 30000, 50);
    liveSetMs.push(since(t0));
    await waitFor(async () => (await stack.status().catch(() => undefined))?.lbsAgree?.agree, 'both LBs agree', 30000, 250);
    agreeMs.push(since(t0));
    await sleep(1000);
    keepalive.add(rep, await loads.keepalive.stop());
    fresh.add(rep, await loads.fresh.stop());
    log(`lb ${rep + 1}/${REPS}: ha2 killed; answers ${answerMs.at(-1)} ms, live set ${liveSetMs.at(-1)} ms, agree ${agreeMs.at(-1)} ms`);
  }
  return { answerMs: summary(answerMs), liveSetMs: summary(liveSetMs), agreeMs: summary(agreeMs), loads: { keepalive: keepalive.figures(), fresh: fresh.figures() } };
}

async function main(): Promise<void> {
  process.env.LEASEHOLD_TAG ||= 'bench';
  const parts = new Parts(process.env.BENCH_ONLY?.split(',').filter(Boolean));
  const results: Record<string, any> = { machine: machine(), tag: process.env.LEASEHOLD_TAG, reps: REPS, webapps: WEBAPPS, settings: { LEASE_TTL: TTL_S }, parts: parts.records };
  if (process.env.BENCH_BUILD !== '0') {
    log(`building leasehold/*:${process.env.LEASEHOLD_TAG} (the layer cache makes repeats quick)`);
    await buildImages('compose.cluster.yml');
  }
  const stack = new ClusterStack();
  const teardown = guardedTeardown(async () => {
    log(`tearing down ${stack.project}`);
    await stack.down();
  }, WATCHDOG_MS);

  try {
    log(`up: project ${stack.project}, 3 etcd, 2 LBs, ${WEBAPPS} webapps, images :${process.env.LEASEHOLD_TAG}, load average ${Object.values(loadAverage()).join(' ')}`);
    await stack.upCluster(WEBAPPS, { LEASE_TTL: String(TTL_S) });
    await stack.convergedBoth(90000);
    await sleep(2000);
    results.leader = await parts.run('leader', () => leaderKills(stack));
    results.lb = await parts.run('lb', () => lbKills(stack));
    results.churn = await parts.run('churn', async () => {
      const c = await churn(stack);
      const t0 = clock();
      const both = await stack.convergedBoth(60000).then(() => since(t0)).catch((e: Error) => e.message);
      return { ...c, bothConvergedMsAfter: both };
    });
  } finally {
    await teardown();
  }
  print(results);
  if (process.env.BENCH_ONLY) results.only = process.env.BENCH_ONLY;
  log(`wrote ${writeResults('cluster', results)}`);
}

const cells = (s: Summary) => [s.n, s.min, s.median, s.p99, s.max];
const hdr = ['what', 'n', 'min', 'median', 'p99', 'max'];
const loadRows = (loads: Record<string, LoadFigures & { kind: string }>) => Object.values(loads).map((f) => loadRow(f.kind, f));

function print(r: Record<string, any>): void {
  if (r.leader) {
    table('etcd leader SIGKILLed under load (ms after the kill)', hdr, [
      ['a new leader', ...cells(r.leader.newLeaderMs)],
      ['every record readable on the majority', ...cells(r.leader.registeredMs)],
      ['member rejoined (after its start)', ...cells(r.leader.rejoinMs)],
    ]);
    table('load through both LBs, all reps', LOAD_HEADER, loadRows(r.leader.loads));
    console.log(`leases lost (a registrar missing 2 TTLs after the kill): ${r.leader.lostLeases}`);
  }
  if (r.lb) {
    table('LB 2 SIGKILLed (PID 1) under load on LB 1 (ms after the kill)', hdr, [
      ['LB 2 answers again (restart policy)', ...cells(r.lb.answerMs)],
      ['LB 2 has the full live set UP', ...cells(r.lb.liveSetMs)],
      ['leasehold status: both agree', ...cells(r.lb.agreeMs)],
    ]);
    table('load through LB 1, all reps', LOAD_HEADER, loadRows(r.lb.loads));
  }
  const c = r.churn;
  if (c) {
    table(`churn on the cluster, ${c.seconds} s, through LB 1`, LOAD_HEADER, churnRows(c));
    console.log(`reloads during the churn: ${c.reloads}; both LBs converged ${c.bothConvergedMsAfter} ms after it`);
  }
}

await main();
