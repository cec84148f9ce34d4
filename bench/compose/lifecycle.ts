// Repetitions of graceful leave, join and crash on a 3-webapp stack, each under the keep-alive
// load with cookies (50 req/s) and a fresh-connection load (10 req/s) whose failures are counted;
// and the reloads all of them caused (the master's count in `show proc`, before and after).
import type { ComposeStack } from '../../harness/compose.js';
import { log } from '../parts.js';
import { summary } from '../stats.js';
import { crash } from './crash.js';
import { join } from './join.js';
import { leave } from './leave.js';
import { LoadTally, underLoads } from './loads.js';
import type { LogBook } from './logbook.js';
import { nodeOf } from './node.js';

const RPS = 50;
const FRESH_RPS = 10;

const tallies = () => ({ keepalive: new LoadTally(`keep-alive GET with cookies, ${RPS} req/s`), fresh: new LoadTally(`fresh-connection GET, ${FRESH_RPS} req/s`) });
const figures = (t: ReturnType<typeof tallies>) => ({ keepalive: t.keepalive.figures(), fresh: t.fresh.figures() });
const defined = (xs: (number | undefined)[]) => xs.filter((x): x is number => x !== undefined && !Number.isNaN(x));

export async function lifecycle(stack: ComposeStack, reps: number, logs: LogBook, ttlSeconds: number) {
  const loads = { leave: tallies(), join: tallies(), crash: tallies() };
  const rows: Record<string, unknown>[] = [];
  const before = await stack.haProc();
  for (let rep = 0; rep < reps; rep++) {
    const running = await stack.containers('webapp');
    const victim = await nodeOf(stack, running[rep % running.length]!.Id, true);

    const l = await underLoads(stack.url, RPS, FRESH_RPS, () => leave(stack, victim, logs));
    loads.leave.keepalive.add(rep, l.keepalive);
    loads.leave.fresh.add(rep, l.fresh);
    await stack.converged(60000);

    const j = await underLoads(stack.url, RPS, FRESH_RPS, () => join(stack, victim, logs));
    loads.join.keepalive.add(rep, j.keepalive);
    loads.join.fresh.add(rep, j.fresh);
    await stack.converged(60000);

    const others = (await stack.containers('webapp')).filter((c) => c.Id !== victim.id);
    const killed = await nodeOf(stack, others[rep % others.length]!.Id, true);
    const c = await underLoads(stack.url, RPS, FRESH_RPS, () => crash(stack, killed, ttlSeconds, logs));
    loads.crash.keepalive.add(rep, c.keepalive);
    loads.crash.fresh.add(rep, c.fresh);
    // SIGKILL by `docker kill` is a manual stop to Docker: no restart policy brings it back.
    await killed.container.start();
    await stack.converged(60000);

    rows.push({ rep, leave: { host: victim.hostname, ...l.value }, join: { host: victim.hostname, ...j.value }, crash: { host: killed.hostname, ...c.value } });
    const failed = [l, j, c].map((x) => x.keepalive.failed.length + x.fresh.failed.length).join('/');
    log(`rep ${rep + 1}/${reps}: leave ${l.value.outMs} ms, join ${j.value.keepaliveMs} ms, crash out ${c.value.outMs} ms / slot freed ${c.value.goneMs} ms; failed ${failed}`);
  }
  const after = await stack.haProc();
  const at = (k: 'leave' | 'join' | 'crash') => rows.map((r) => r[k] as Record<string, any>);
  return {
    reps,
    leave: {
      outMs: summary(defined(at('leave').map((x) => x.outMs))),
      clientMs: summary(defined(at('leave').map((x) => x.clientMs))),
      goneMs: summary(defined(at('leave').map((x) => x.goneMs))),
      dockerStopMs: summary(defined(at('leave').map((x) => x.stopMs))),
      steps: Object.fromEntries(['sigterm', 'revoked', 'removed'].map((k) => [k, summary(defined(at('leave').map((x) => x.steps[k])))])),
      loads: figures(loads.leave),
    },
    join: {
      keepaliveMs: summary(defined(at('join').map((x) => x.keepaliveMs))),
      freshMs: summary(defined(at('join').map((x) => x.freshMs))),
      afterAppMs: summary(defined(at('join').map((x) => x.afterAppMs))),
      overDnsMs: summary(defined(at('join').map((x) => x.overDnsMs))),
      steps: Object.fromEntries(['startReturned', 'processStarted', 'dnsResolved', 'appListening', 'registered', 'placed'].map((k) => [k, summary(defined(at('join').map((x) => x.steps[k])))])),
      loads: figures(loads.join),
    },
    crash: {
      outMs: summary(defined(at('crash').map((x) => x.outMs))),
      slotFreedMs: summary(defined(at('crash').map((x) => x.goneMs))),
      loads: figures(loads.crash),
    },
    /** Membership changes: per rep a leave, a join, a crash and the crashed node's return. */
    membershipChanges: reps * 4,
    reloads: after.reloads - before.reloads,
    sameWorker: after.workerPid === before.workerPid,
    rows,
  };
}
