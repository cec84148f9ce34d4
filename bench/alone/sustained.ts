// Changes at a steady rate on a large pool: weight changes of random nodes, `rate` a second for
// `seconds`, each put sent on its own schedule (not after the previous one), at most 32 in
// flight. Every `probeEvery`-th change is followed on the admin socket until the worker has its
// weight: put → live, as one-change.ts measures it. Reloads before and after are compared.
import { clock, round } from '../machine.js';
import { log } from '../parts.js';
import { seeded } from '../random.js';
import { summary } from '../stats.js';
import { key, record, syntheticAddress } from './records.js';
import type { Rig } from './rig.js';
import { WorkerProbe } from './worker-probe.js';
import { sleep } from '../../harness/wait.js';

const MAX_IN_FLIGHT = 32;

export async function sustained(rig: Rig, nodes: number, rate: number, seconds: number, probeEvery = 5) {
  const probe = new WorkerProbe(rig.ha.adminSocket);
  const slots = new Map<string, string>();
  for (const s of (await rig.status()).backends.webapp!) if (s.node) slots.set(s.node, s.slot);
  const pick = seeded(nodes + rate);
  const reloads0 = await rig.reloads();
  const cpu0 = await rig.cpu();
  const weights = new Map<number, number>();
  const latencies: number[] = [];
  const lost: string[] = [];
  let sent = 0;
  let late = 0;
  let superseded = 0;
  let inFlight = 0;
  const total = rate * seconds;
  const t0 = clock();
  const work: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - clock();
    if (wait > 0) await sleep(wait);
    else if (wait < -50) late++;
    if (inFlight >= MAX_IN_FLIGHT) {
      late++;
      continue;
    }
    const n = Math.floor(pick() * nodes);
    const weight = ((weights.get(n) ?? 1) % 256) + 1;
    weights.set(n, weight);
    const slot = slots.get(`n${n}`);
    const follow = slot !== undefined && i % probeEvery === 0;
    inFlight++;
    sent++;
    const started = clock();
    work.push(
      (async () => {
        try {
          await rig.etcd.putLeased(key(`n${n}`), record(`n${n}`, { ...syntheticAddress(n), weight }));
          if (!follow) return;
          // A later change of the same node (rare among 10,000) ends the sample unrecorded.
          const seen = await WorkerProbe.until(async () => weights.get(n) !== weight || (await probe.weight('webapp', slot!)) === weight, `n${n} weight ${weight} in ${slot}`, 30000, 2);
          if (weights.get(n) === weight) latencies.push(round(seen - started));
          else superseded++;
        } catch (err) {
          lost.push((err as Error).message);
        } finally {
          inFlight--;
        }
      })(),
    );
  }
  await Promise.all(work);
  const wall = (clock() - t0) / 1000;
  const cpu1 = await rig.cpu();
  const reloads = (await rig.reloads()) - reloads0;
  const s = summary(latencies);
  log(`${rate} changes/s for ${seconds} s at ${nodes} nodes: ${sent} sent, p50 ${s.median.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms (n ${s.n}), ${reloads} reloads`);
  return {
    nodes,
    rate,
    seconds,
    sent,
    /** Changes not sent on time (the loop fell behind, or 32 were in flight). */
    late,
    superseded,
    lost: lost.slice(0, 5),
    lostCount: lost.length,
    changes: s,
    reloads,
    cpuPercent: { renderer: round(((cpu1.renderer - cpu0.renderer) / wall) * 100), haproxy: round(((cpu1.haproxy - cpu0.haproxy) / wall) * 100) },
  };
}
