#!/usr/bin/env node
// The whole product on a compose stack (etcd, HAProxy 3.0 + renderer, webapps with registrars),
// default settings (LEASE_TTL 5, DRAIN_MS 3000), images tagged LEASEHOLD_TAG (default `bench`,
// so a run never replaces the `latest` images):
// 1. image sizes;
// 2. graceful leave, join and crash, repeated, under keep-alive load (and fresh, for comparison);
// 3. churn at 100 req/s keep-alive for 60 s: scale 2→6, kill 2, stop 2, back to 2;
// 4. a 20 s streaming response during scale 2→6→2;
// 5. resident memory, as run and with ~100 nodes.
// Writes bench/results/convergence.json. BENCH_REPS sets repetitions of 2 (default 5);
// BENCH_ONLY runs some parts only (lifecycle,churn,streams,memory); BENCH_BUILD=0 skips the build.
import { ComposeStack, buildImages } from '../harness/compose.js';
import { sleep } from '../harness/wait.js';
import { churn } from './compose/churn.js';
import { withHundredNodes } from './compose/hundred.js';
import { imageSizes } from './compose/images.js';
import { lifecycle } from './compose/lifecycle.js';
import { LogBook } from './compose/logbook.js';
import { memory } from './compose/memory.js';
import { streams } from './compose/streams.js';
import { guardedTeardown, loadAverage, machine } from './machine.js';
import { Parts, log } from './parts.js';
import { LOAD_HEADER, type Summary, churnRows, loadRow, table, writeResults } from './stats.js';

const REPS = Number(process.env.BENCH_REPS ?? 5);
const TTL_S = 5;
const WEBAPPS = 3;
/** The whole run is bounded; the stack is torn down either way. */
const WATCHDOG_MS = 30 * 60000;

async function main(): Promise<void> {
  process.env.LEASEHOLD_TAG ||= 'bench';
  const parts = new Parts(process.env.BENCH_ONLY?.split(',').filter(Boolean));
  const results: Record<string, any> = { machine: machine(), tag: process.env.LEASEHOLD_TAG, reps: REPS, webapps: WEBAPPS, settings: { LEASE_TTL: TTL_S, DRAIN_MS: 3000, START_DELAY_MS: Number(process.env.START_DELAY_MS ?? 0) }, parts: parts.records };
  if (process.env.BENCH_BUILD !== '0') {
    log(`building leasehold/*:${process.env.LEASEHOLD_TAG} (the layer cache makes repeats quick)`);
    await buildImages();
  }
  results.images = await imageSizes();

  const stack = new ComposeStack();
  const logs = new LogBook();
  const teardown = guardedTeardown(async () => {
    logs.stop();
    log(`tearing down ${stack.project}`);
    await stack.down();
  }, WATCHDOG_MS);

  try {
    log(`up: project ${stack.project}, ${WEBAPPS} webapps, images :${process.env.LEASEHOLD_TAG}, load average ${Object.values(loadAverage()).join(' ')}`);
    await stack.up({ webapps: WEBAPPS, env: { LEASE_TTL: String(TTL_S) } });
    await stack.converged(90000);
    await logs.follow(stack, 'ha');
    await sleep(2000);
    results.lifecycle = await parts.run('lifecycle', () => lifecycle(stack, REPS, logs, TTL_S));
    results.churn = await parts.run('churn', () => churn(stack));
    results.streams = await parts.run('streams', () => streams(stack));
    results.memory = await parts.run('memory', async () => {
      await stack.scale(3);
      await stack.converged(60000);
      await sleep(10000);
      const asRun = await memory(stack);
      const hundred = await withHundredNodes(stack, 100, async () => {
        await sleep(10000); // a periodic reconcile and the config mirror have run
        return memory(stack);
      });
      return { asRun: { webapps: 3, ...asRun }, hundredNodes: { nodes: 103, ...hundred } };
    });
  } finally {
    await teardown();
  }
  print(results);
  if (process.env.BENCH_ONLY) results.only = process.env.BENCH_ONLY;
  // A run with a slow-starting sample app (START_DELAY_MS) is kept apart from the main one.
  log(`wrote ${writeResults(Number(process.env.START_DELAY_MS) > 0 ? 'convergence-slow-app' : 'convergence', results)}`);
}

const cells = (s: Summary) => [s.n, s.min, s.median, s.p99, s.max];
const hdr = ['what', 'n', 'min', 'median', 'p99', 'max'];

function print(r: Record<string, any>): void {
  table('image sizes (MB)', ['image', 'size'], Object.values(r.images as Record<string, { image: string; mb: number }>).map((i) => [i.image, i.mb]));
  const lc = r.lifecycle;
  if (lc) {
    table('graceful leave, join, crash (ms)', hdr, [
      ['docker stop → not UP in HAProxy', ...cells(lc.leave.outMs)],
      ['docker stop → last request reached it (client)', ...cells(lc.leave.clientMs)],
      ['  docker stop → registrar got SIGTERM', ...cells(lc.leave.steps.sigterm)],
      ['  docker stop → lease revoked', ...cells(lc.leave.steps.revoked)],
      ['  docker stop → renderer removed it', ...cells(lc.leave.steps.removed)],
      ['docker start → first answer (keep-alive)', ...cells(lc.join.keepaliveMs)],
      ['docker start → first answer (fresh)', ...cells(lc.join.freshMs)],
      ['  docker start → process running (Docker)', ...cells(lc.join.steps.processStarted)],
      ['  docker start → Docker DNS answers its name', ...cells(lc.join.steps.dnsResolved)],
      ['  docker start → app listening', ...cells(lc.join.steps.appListening)],
      ['  docker start → registrar registered', ...cells(lc.join.steps.registered)],
      ['  docker start → renderer placed it', ...cells(lc.join.steps.placed)],
      ['app listening → first answer (keep-alive)', ...cells(lc.join.afterAppMs)],
      ['Docker DNS answers → first answer (keep-alive)', ...cells(lc.join.overDnsMs)],
      ['SIGKILL → not UP in HAProxy', ...cells(lc.crash.outMs)],
      ['SIGKILL → slot freed', ...cells(lc.crash.slotFreedMs)],
    ]);
    const rows = (['leave', 'join', 'crash'] as const).flatMap((k) => (['keepalive', 'fresh'] as const).map((m) => {
      const f = lc[k].loads[m];
      return loadRow(`${k}: ${f.kind}`, f);
    }));
    table('load around each action, all reps', LOAD_HEADER, rows);
    console.log(`reloads over ${lc.membershipChanges} membership changes: ${lc.reloads}`);
  }
  const c = r.churn;
  if (c) {
    table(`churn, ${c.seconds} s`, LOAD_HEADER, churnRows(c));
    console.log(`reloads during the churn: ${c.reloads}`);
  }
  const s = r.streams;
  if (s) console.log(`\nstreams of ${s.seconds} s during scale 2→6→2: ${s.complete}/${s.streams} complete (the one started at 2 webapps: ${s.firstComplete}); ${s.onRemovedNodesComplete}/${s.onRemovedNodes} on removed webapps; reloads ${s.reloads}`);
  const m = r.memory;
  if (m) {
    table('resident memory in the containers (MB)', ['when', 'registrar (max)', 'registrar private / PSS (max)', 'bare node in the image', 'renderer', 'haproxy master', 'haproxy worker', 'etcd'], [m.asRun, m.hundredNodes].map((x) => [`${x.webapps ?? 3} webapps${x.nodes ? `, ${x.nodes} nodes` : ''}`, x.registrarMax, x.registrarOwn.length ? `${Math.max(...x.registrarOwn.map((o: { privateMb: number }) => o.privateMb))} / ${Math.max(...x.registrarOwn.map((o: { pssMb: number }) => o.pssMb))}` : '-', x.bareNodeMb ?? '-', x.renderer, x.haproxyMaster, x.haproxyWorker, x.etcd]));
  }
}

await main();
