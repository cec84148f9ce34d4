// The project's targets (version 2), each read from the benchmark results: what was measured, n,
// met or not, and the load average the part producing it started under.
import type { Summary } from './stats.js';

export interface TargetRow {
  what: string;
  target: string;
  measured: string;
  n?: number;
  /** undefined: not measured */
  met?: boolean;
  /** The part the figure comes from, and its 1-minute load average at the start. */
  part?: string;
  load?: number;
}

type Results = Record<string, any> | undefined;

const ms = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} s` : `${x.toFixed(1)} ms`);
const mp = (s: Summary) => `${ms(s.median)} (p99 ${ms(s.p99)}, max ${ms(s.max)})`;

/** The 1-minute load average at the start of part `name` of a results file. */
function loadOf(r: Results, name: string): { part: string; load?: number } {
  return { part: name, load: r?.parts?.find((p: { name: string }) => p.name === name)?.loadAtStart?.one };
}

export function targets(alone: Results, compose: Results, cluster?: Results): TargetRow[] {
  const rows: TargetRow[] = [];
  const add = (row: TargetRow) => rows.push(row);
  const missing = (what: string, target: string, why = 'not run') => add({ what, target, measured: why });

  const jl = alone?.joinLeave;
  if (jl) {
    const j = jl.join.keepalive as Summary;
    add({ what: 'join: record put → first request served (renderer alone, keep-alive poller)', target: '≤ 20 ms (p99 ≤ 100 ms)', measured: mp(j), n: j.n, met: j.median <= 20 && j.p99 <= 100, ...loadOf(alone, 'join-leave') });
    const l = jl.leave.keepalive as Summary;
    add({ what: 'leave: key deleted → no request reaches it (renderer alone, keep-alive poller)', target: '≤ 50 ms', measured: mp(l), n: l.n, met: l.median <= 50, ...loadOf(alone, 'join-leave') });
  } else missing('join / leave (renderer alone)', '≤ 20 ms (p99 ≤ 100) / ≤ 50 ms');

  const lc = compose?.lifecycle;
  if (lc) {
    const j = lc.join.keepaliveMs as Summary;
    const med = (x?: Summary) => (x?.n ? ms(x.median) : '?');
    const baseline = `; medians: Docker's DNS answers for it at ${med(lc.join.steps.dnsResolved)}, the app listens at ${med(lc.join.steps.appListening)}, app listening → served ${med(lc.join.afterAppMs)}`;
    add({ what: 'join: docker start → first request served through the LB (keep-alive poller)', target: '≤ 300 ms', measured: mp(j) + baseline, n: j.n, met: j.median <= 300, ...loadOf(compose, 'lifecycle') });
    const l = lc.leave.outMs as Summary;
    const lf = lc.leave.loads.keepalive;
    add({ what: 'graceful leave: docker stop (SIGTERM) → no new request sent to it', target: '≤ 50 ms, 0 failed requests', measured: `${mp(l)}; ${lf.failed} failed of ${lf.requests} keep-alive (${lc.leave.loads.fresh.failed} of ${lc.leave.loads.fresh.requests} fresh)`, n: l.n, met: l.median <= 50 && lf.failed === 0 && lc.leave.loads.fresh.failed === 0, ...loadOf(compose, 'lifecycle') });
    const c = lc.crash.outMs as Summary;
    const cf = lc.crash.loads.keepalive;
    const freed = lc.crash.slotFreedMs as Summary;
    add({ what: 'crash: SIGKILL → no new request sent to it; slot freed', target: '≤ 100 ms, 0 failed GETs; freed ≤ TTL + 1 s (6 s)', measured: `${mp(c)}; ${cf.failed} failed of ${cf.requests} keep-alive GETs (${lc.crash.loads.fresh.failed} of ${lc.crash.loads.fresh.requests} fresh); freed ${mp(freed)}`, n: c.n, met: c.median <= 100 && cf.failed === 0 && lc.crash.loads.fresh.failed === 0 && freed.max <= 6000, ...loadOf(compose, 'lifecycle') });
  } else missing('join / graceful leave / crash (compose)', '≤ 300 ms / ≤ 50 ms / ≤ 100 ms');

  const ch = compose?.churn;
  if (ch) {
    const k = ch.keepalive;
    add({ what: `churn, ${ch.rps} req/s keep-alive for ${ch.seconds} s (2→6, kill 2, stop 2, back to 2)`, target: '0 failed, p99 < 50 ms', measured: `${k.failed} failed of ${k.requests}, p50 ${k.p50} ms, p99 ${k.p99} ms, max ${k.max} ms (fresh beside it: ${ch.fresh.failed} failed of ${ch.fresh.requests}, p99 ${ch.fresh.p99} ms)`, n: k.requests, met: k.failed === 0 && k.p99 < 50, ...loadOf(compose, 'churn') });
  } else missing('churn', '0 failed, p99 < 50 ms');

  const reloadSources: [string, number | undefined, number | undefined][] = [
    ['renderer alone, join/leave', jl?.reloads, jl?.membershipChanges],
    ['renderer alone, bursts', alone?.burst?.reloads, alone?.burst ? alone.burst.bursts * alone.burst.size : undefined],
    ['compose, leave/join/crash', lc?.reloads, lc?.membershipChanges],
    ['compose, churn', ch?.reloads, undefined],
    ['compose, streams 2→6→2', compose?.streams?.reloads, undefined],
  ];
  const measuredReloads = reloadSources.filter(([, r]) => r !== undefined);
  if (measuredReloads.length) {
    add({ what: 'reloads caused by membership changes', target: '0', measured: measuredReloads.map(([w, r, n]) => `${r}${n ? ` over ${n} changes` : ''} (${w})`).join('; '), met: measuredReloads.every(([, r]) => r === 0) });
  } else missing('reloads caused by membership changes', '0');

  const st = compose?.streams;
  if (st) add({ what: 'a 20 s streaming response during scale 2→6→2', target: 'completes', measured: `${st.firstComplete ? 'completed' : 'did not complete'}; with the ones started at 6: ${st.complete}/${st.streams} (${st.onRemovedNodesComplete}/${st.onRemovedNodes} on webapps the scale-down stopped)`, n: 1, met: st.firstComplete, ...loadOf(compose, 'streams') });
  else missing('20 s stream during scale 2→6→2', 'completes');

  const k1 = alone?.nodes1000?.oneChange;
  if (k1) add({ what: '1,000 nodes: one change, put → live in the worker', target: '≤ 20 ms p99', measured: `p99 ${ms(k1.changes.p99)} (median ${ms(k1.changes.median)}, max ${ms(k1.changes.max)}; p99 ${ms(k1.withoutMirror.p99)} for the ${k1.changes.n - k1.duringMirror} that did not wait for a config mirror)`, n: k1.changes.n, met: k1.changes.p99 <= 20, ...loadOf(alone, '1000-nodes') });
  else missing('1,000 nodes: one change', '≤ 20 ms p99');

  const k10 = alone?.nodes10000;
  if (k10) {
    const fs = k10.firstSync;
    add({ what: '10,000 nodes: first full sync (every node live)', target: '≤ 5 s', measured: `${ms(fs.liveMs)}, ${fs.reloads} reload(s) (haproxy -c ${fs.steps.reloads.map((e: { checkMs: number }) => e.checkMs).join('+')} ms, reload ${fs.steps.reloads.map((e: { reloadMs: number }) => e.reloadMs).join('+')} ms)`, n: 1, met: fs.liveMs <= 5000, ...loadOf(alone, '10000-nodes') });
    const oc = k10.oneChange;
    add({ what: '10,000 nodes: one change, put → live in the worker', target: '≤ 50 ms p99', measured: `p99 ${ms(oc.changes.p99)} (median ${ms(oc.changes.median)}, max ${ms(oc.changes.max)}; p99 ${ms(oc.withoutMirror.p99)} for the ${oc.changes.n - oc.duringMirror} that did not wait for a config mirror)`, n: oc.changes.n, met: oc.changes.p99 <= 50, ...loadOf(alone, '10000-nodes') });
    add({ what: '10,000 nodes: renderer resident memory (host, Node 20)', target: '≤ 150 MB', measured: `${k10.memory.rss} MB (peak ${k10.memory.peak} MB)`, n: 1, met: k10.memory.rss <= 150, ...loadOf(alone, '10000-nodes') });
  } else missing('10,000 nodes', '≤ 5 s / ≤ 50 ms p99 / ≤ 150 MB');

  const b = alone?.burst;
  if (b) add({ what: `burst of ${b.size} changes within 1 s (MIN_SLOTS=${b.minSlots})`, target: '0 reloads, converged ≤ 1 s after the last', measured: `${b.reloads} reloads over ${b.bursts} bursts; converged ${mp(b.convergedMs)} after the last change`, n: b.bursts, met: b.reloads === 0 && b.convergedMs.max <= 1000, ...loadOf(alone, 'burst') });
  else missing('burst of 100 changes', '0 reloads, ≤ 1 s');

  const lk = cluster?.leader;
  if (lk) {
    const loads = Object.values(lk.loads as Record<string, { requests: number; failed: number }>);
    const failed = loads.reduce((n, l) => n + l.failed, 0);
    const requests = loads.reduce((n, l) => n + l.requests, 0);
    add({ what: 'etcd leader SIGKILLed under load (cluster, keep-alive and fresh GETs through both LBs)', target: '0 failed requests', measured: `${failed} failed of ${requests}; new leader after ${mp(lk.newLeaderMs)}; ${lk.lostLeases} leases lost`, n: lk.newLeaderMs.n, met: failed === 0, ...loadOf(cluster, 'leader') });
  } else missing('etcd leader killed under load (cluster)', '0 failed requests', 'not run (npm run bench:cluster)');

  const m = compose?.memory;
  if (m) {
    add({ what: 'registrar resident memory (in the container, Node 20)', target: '≤ 45 MB', measured: `${m.asRun.registrarMax} MB max of ${m.asRun.registrar.length} (${m.asRun.registrar.join(', ')})${m.asRun.registrarOwn?.length ? `; its own pages: ${Math.max(...m.asRun.registrarOwn.map((o: { privateMb: number }) => o.privateMb))} MB private, PSS ${Math.max(...m.asRun.registrarOwn.map((o: { pssMb: number }) => o.pssMb))} MB (the rest is node's code, shared with the app)` : ''}${m.asRun.bareNodeMb ? `; a bare \`node\` in the image: ${m.asRun.bareNodeMb} MB` : ''}`, n: m.asRun.registrar.length, met: m.asRun.registrarMax <= 45, ...loadOf(compose, 'memory') });
    add({ what: 'renderer resident memory, ~100 nodes (in the container)', target: '≤ 80 MB', measured: `${m.hundredNodes.renderer} MB at ${m.hundredNodes.nodes} nodes (${m.asRun.renderer} MB at 3)${alone?.memory100 ? `; host: ${alone.memory100.rss} MB at 100` : ''}`, n: 1, met: m.hundredNodes.renderer <= 80, ...loadOf(compose, 'memory') });
  } else if (alone?.memory100) {
    add({ what: 'renderer resident memory, 100 nodes (host)', target: '≤ 80 MB', measured: `${alone.memory100.rss} MB`, n: 1, met: alone.memory100.rss <= 80, ...loadOf(alone, 'memory-100') });
  } else missing('registrar / renderer memory', '≤ 45 MB / ≤ 80 MB');
  return rows;
}
