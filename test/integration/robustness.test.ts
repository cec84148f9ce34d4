// The robustness suite, in the style of etcd's: a seeded random schedule of faults against a
// real etcd, a real HAProxy, the renderer and webapps with their registrars, under keep-alive and
// fresh-connection loads, with the invariants checked throughout (see robustness-run.ts).
// ROBUSTNESS_SEED=<n> replays one seed; otherwise a fixed seed and a random one run.
import test, { type ExecutionContext } from 'ava';
import { randomSeed, writeReplayLog } from '../helpers/robustness.js';
import { RobustnessRun } from '../helpers/robustness-run.js';
import { sleep } from '../../harness/wait.js';

const FIXED_SEED = 20261205;
/** The fault phase of one run; the whole file stays within about 3-4 minutes on 2 cores. */
const FAULT_PHASE_MS = Number(process.env.ROBUSTNESS_FAULT_MS ?? 55000);
const QUIET_TAIL_MS = 5000;

async function robustness(t: ExecutionContext, seed: number): Promise<void> {
  t.timeout(FAULT_PHASE_MS + 120000);
  const started = Date.now();
  const run = new RobustnessRun(seed, FAULT_PHASE_MS);
  t.teardown(() => run.teardown());
  t.log(`seed ${seed}: ${run.schedule.length} faults drawn (replay: ROBUSTNESS_SEED=${seed})`);
  let crashed: unknown;
  let converged: number | undefined;
  try {
    await run.start();
    await run.runFaults();
    converged = await run.converge();
    // A quiet tail under load: everything stays converged and every node stays UP (invariant 1).
    await sleep(QUIET_TAIL_MS);
  } catch (err) {
    crashed = err;
    run.note('harness error', { err: (err as Error).stack });
  }
  const load = await run.judgeLoad().catch((err) => {
    crashed ??= err;
    return { sent: 0, failed: 0, noNodePassing: 0, deathWindow: 0, p50: 0, p99: 0 };
  });
  const report = run.report(load, converged, Date.now() - started);
  const ran = Object.entries(report.faults).map(([k, v]) => `${k} ${v.run}${v.skipped ? ` (+${v.skipped} skipped)` : ''}`).join(', ');
  t.log(`faults: ${ran}`);
  t.log(`checks: ${Object.entries(report.checks).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
  t.log(`requests: ${load.sent} sent, ${load.failed} failed (${load.noNodePassing} with no node passing, ${load.deathWindow} within 3 s of 2+ servers dying together), p50 ${load.p50} ms, p99 ${load.p99} ms`);
  t.log(`graceful leaves out of rotation after [${report.leaveLatencyMs.join(', ')}] ms; converged ${converged ?? '-'} ms after the faults; fail static ${JSON.stringify(report.failStatic)}; ${Math.round(report.durationMs / 1000)} s in all`);
  const failed = !!crashed || run.violations.length > 0;
  // ROBUSTNESS_LOG=1 keeps the log of a passing run too.
  if (failed || process.env.ROBUSTNESS_LOG === '1') {
    const path = writeReplayLog(seed, { error: crashed ? String((crashed as Error).stack ?? crashed) : undefined, report, ...run.replayContent() });
    t.log(`replayable log: ${path}`);
    if (failed) console.error(`robustness seed ${seed} failed; replayable log: ${path}`);
  }
  if (failed) {
    for (const v of run.violations.slice(0, 10)) t.log(`violation at ${v.at} ms: invariant ${v.invariant}: ${v.detail}`);
    if (crashed) throw crashed;
  }
  t.deepEqual(run.violations.map((v) => `${v.invariant}: ${v.detail}`), [], `seed ${seed}: no invariant broken`);
  for (const [kind, v] of Object.entries(report.faults)) t.true(v.run + v.skipped > 0, `${kind} drawn`);
}

const replay = process.env.ROBUSTNESS_SEED;
if (replay) {
  const seed = Number(replay);
  test.serial(`robustness: replay of seed ${seed}`, (t) => robustness(t, seed));
} else {
  test.serial(`robustness: fixed seed ${FIXED_SEED}`, (t) => robustness(t, FIXED_SEED));
  const seed = randomSeed();
  test.serial(`robustness: random seed ${seed}`, (t) => robustness(t, seed));
}
