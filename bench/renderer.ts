#!/usr/bin/env node
// The renderer alone, against a real etcd and the host's HAProxy on 127.0.0.1 (no Docker):
// 1. join / leave of one real node, seen by a keep-alive polling client (and a fresh-connection
//    one, for comparison with the old figures); reloads per membership change;
// 2. bursts of 100 changes within 1 s on a pool that fits (MIN_SLOTS=128);
// 3. resident memory at 100 nodes;
// 4. 1,000 and 10,000 nodes: first full sync, one change at a time, memory (a third pool size for
//    the plot of memory against pool size); 100 changes/s for 60 s at 10,000 (BENCH_SUSTAINED_S).
// Writes bench/results/renderer.json. BENCH_REPS sets repetitions (default 20); BENCH_ONLY runs
// some parts only (join-leave,burst,memory-100,1000-nodes,10000-nodes,10000-sustained).
import { bursts } from './alone/burst.js';
import { firstSync } from './alone/full-sync.js';
import { joinLeave } from './alone/join-leave.js';
import { settledMemory } from './alone/memory.js';
import { sustained } from './alone/sustained.js';
import { oneChange } from './alone/one-change.js';
import { putSynthetic } from './alone/records.js';
import { Rig } from './alone/rig.js';
import { machine } from './machine.js';
import { Parts, log } from './parts.js';
import { type Summary, table, writeResults } from './stats.js';

const REPS = Number(process.env.BENCH_REPS ?? 20);
/** Burst cycles (join, weight, leave: 3 bursts each). */
const CYCLES = Number(process.env.BENCH_BURST_CYCLES ?? Math.min(REPS, 5));
/** HAProxy needs ~2 x maxconn + one descriptor per slot: 10,000 nodes (16,384 slots) fit 20,000 with 1,000. */
const LARGE = { HAPROXY_MAXCONN: '1000' };

async function main(): Promise<void> {
  const parts = new Parts(process.env.BENCH_ONLY?.split(',').filter(Boolean));
  const results: Record<string, any> = { machine: machine(), reps: REPS, parts: parts.records };

  results.joinLeave = await parts.run('join-leave', () => joinLeave(REPS));
  results.burst = await parts.run('burst', () => bursts(CYCLES));
  results.memory100 = await parts.run('memory-100', async () => {
    const rig = await Rig.start();
    try {
      await putSynthetic(rig.etcd, 0, 100);
      await rig.startRenderer();
      await rig.waitHealthy(30000);
      return await settledMemory(rig, 100);
    } finally {
      await rig.stop();
    }
  });

  // One etcd and HAProxy for both sizes; started by whichever part runs first.
  let shared: Rig | undefined;
  const large = async () => (shared ??= await Rig.start());
  try {
    results.nodes1000 = await parts.run('1000-nodes', async () => {
      const rig = await large();
      await putSynthetic(rig.etcd, 0, 1000);
      const sync = await firstSync(rig, 1000, LARGE);
      const change = await oneChange(rig, 1000, REPS, 1000);
      return { firstSync: sync, oneChange: change, memory: await settledMemory(rig, 1000) };
    });
    results.nodes10000 = await parts.run('10000-nodes', async () => {
      const rig = await large();
      await rig.stopRenderer();
      await putSynthetic(rig.etcd, 0, 10000);
      await rig.freshHaproxy();
      const sync = await firstSync(rig, 10000, LARGE);
      const change = await oneChange(rig, 10000, REPS, 10000);
      const rate = await parts.run('10000-sustained', () => sustained(rig, 10000, 100, Number(process.env.BENCH_SUSTAINED_S ?? 60)));
      return { firstSync: sync, oneChange: change, sustained: rate, memory: await settledMemory(rig, 10000) };
    });
  } finally {
    await shared?.stop();
  }

  print(results);
  if (process.env.BENCH_ONLY) results.only = process.env.BENCH_ONLY;
  log(`wrote ${writeResults('renderer', results)}`);
}

const cells = (s: Summary) => [s.n, s.median, s.p99, s.max];

function print(r: Record<string, any>): void {
  const jl = r.joinLeave;
  if (jl) table('join / leave of one node (ms)', ['what', 'n', 'median', 'p99', 'max'], [
    ['put → first answer from it (keep-alive poller)', ...cells(jl.join.keepalive)],
    ['put → first answer from it (fresh connections)', ...cells(jl.join.fresh)],
    ['delete → no request reaches it (keep-alive)', ...cells(jl.leave.keepalive)],
    ['delete → no request reaches it (fresh)', ...cells(jl.leave.fresh)],
  ]);
  if (jl) console.log(`reloads over ${jl.membershipChanges} membership changes: ${jl.reloads}; background keep-alive load: ${jl.backgroundLoad.failed} failed of ${jl.backgroundLoad.requests}`);
  const b = r.burst;
  if (b) table(`bursts of ${b.size} changes in ~1 s (MIN_SLOTS ${b.minSlots}): last change → converged (ms)`, ['kind', 'n', 'median', 'p99', 'max'], Object.entries(b.byKind as Record<string, Summary>).map(([k, s]) => [k, ...cells(s)]));
  if (b) console.log(`reloads over ${b.bursts} bursts: ${b.reloads}`);
  const large = [r.nodes1000, r.nodes10000].filter(Boolean);
  const rows = large.map((x) => [x.oneChange.nodes, ...cells(x.oneChange.changes), x.oneChange.withoutMirror.p99, x.oneChange.duringMirror, x.oneChange.logged.median, x.oneChange.reconcile.median]);
  table('one change, put → live in the worker (ms)', ['nodes', 'n', 'median', 'p99', 'max', 'p99 w/o mirror', 'waited for a mirror', 'logged median', 'reconcile median'], rows);
  table('first full sync', ['nodes', 'every node live (ms)', 'healthy (ms)', 'reloads', 'haproxy -c (ms)', 'reload (ms)'], large.map((x) => {
    const s = x.firstSync;
    return [s.nodes, s.liveMs, s.healthyMs, s.reloads, s.steps.reloads.map((e: { checkMs: number }) => e.checkMs).join('+'), s.steps.reloads.map((e: { reloadMs: number }) => e.reloadMs).join('+')];
  }));
  const st = r.nodes10000?.sustained;
  if (st) table(`${st.rate} changes/s for ${st.seconds} s at ${st.nodes} nodes: put → live (ms)`, ['sent', 'late', 'n', 'median', 'p99', 'max', 'reloads', 'renderer CPU %'], [[st.sent, st.late, ...cells(st.changes), st.reloads, st.cpuPercent.renderer]]);
  table('renderer resident memory (MB)', ['nodes', 'rss', 'peak'], [r.memory100, r.nodes1000?.memory, r.nodes10000?.memory].filter(Boolean).map((m) => [m.nodes, m.rss, m.peak]));
}

await main();
