// One membership change at a time on a large pool, from the etcd put (or delete) to the change
// being live in the running worker, read on its admin socket. Each rep makes three changes: a
// new node joins (a free slot is set), an existing node's weight changes, the new node leaves.
// Pauses between changes are irregular (seeded) so changes meet the renderer's timers at any phase.
import { clock, round } from '../machine.js';
import { log } from '../parts.js';
import { seeded } from '../random.js';
import { summary } from '../stats.js';
import { key, record, syntheticAddress } from './records.js';
import { type Rig, eventTime, firstEventAfter } from './rig.js';
import { WorkerProbe } from './worker-probe.js';
import { sleep, waitFor } from '../../harness/wait.js';

type Kind = 'join' | 'weight' | 'leave';

export interface ChangeSample {
  kind: Kind;
  rep: number;
  slot: string;
  /** put/delete → live in the worker (admin socket) */
  ms: number;
  /** put/delete → the renderer's `reconciled` log line (written after it re-read every server) */
  loggedMs?: number;
  /** that reconcile's own duration as the renderer logged it: commands + re-read + compare */
  reconcileMs?: number;
  /** the put's own round trip to etcd */
  putMs: number;
  /** a config mirror (`haproxy -c` of the full config) ran while the change waited */
  duringMirror: boolean;
  /** a pass that read and compared the whole worker ran while the change waited: its ms */
  compareMs?: number;
  /** the periodic re-list of every record (RESYNC_INTERVAL_MS) ended while the change waited */
  duringRelist?: boolean;
}

export async function oneChange(rig: Rig, nodes: number, reps: number, seed: number) {
  const probe = new WorkerProbe(rig.ha.adminSocket);
  const pause = seeded(seed);
  const samples: ChangeSample[] = [];
  const cpu0 = await rig.cpu();
  const wall0 = clock();
  const windows: { t0: number; seen: number }[] = [];
  const timed = async (kind: Kind, rep: number, slot: string, change: () => Promise<unknown>, live: () => Promise<boolean>) => {
    const t0 = clock();
    await change();
    const putMs = clock() - t0;
    const seen = await WorkerProbe.until(live, `${kind} in ${slot}`, 30000);
    windows.push({ t0, seen });
    samples.push({ kind, rep, slot, ms: round(seen - t0), putMs: round(putMs), duringMirror: false });
    await sleep(200 + pause() * 1000);
  };

  for (let rep = 0; rep < reps; rep++) {
    // Slots the last leaver held are free again once the renderer saw their sessions end.
    const slots = await waitFor(async () => {
      const s = (await rig.status()).backends.webapp!;
      return s.every((x) => x.state !== 'leaving') ? s : undefined;
    }, 'no slot leaving', 15000, 200);
    // A new node takes the lowest free slot.
    const free = slots.find((s) => s.state === 'free')!.slot;
    const address = `127.250.${rep >> 8}.${rep & 255}`;
    await timed('join', rep, free, () => rig.etcd.putLeased(key(`x${rep}`), record(`x${rep}`, { address, port: 9 })), async () => {
      const s = await probe.server('webapp', free);
      return s.status !== 'MAINT' && s.addr === `${address}:9`;
    });
    const victim = `n${rep % nodes}`;
    const slot = slots.find((s) => s.node === victim)!.slot;
    const was = await probe.weight('webapp', slot);
    const weight = was >= 256 ? 1 : was + 1;
    await timed('weight', rep, slot, () => rig.etcd.putLeased(key(victim), record(victim, { ...syntheticAddress(rep % nodes), weight })), async () => (await probe.weight('webapp', slot)) === weight);
    await timed('leave', rep, free, () => rig.etcd.client.delete().key(key(`x${rep}`)).exec(), async () => (await probe.server('webapp', free)).status === 'MAINT');
  }
  const cpu1 = await rig.cpu();
  // What the renderer logged about each change, read once every line is in.
  await sleep(500);
  const mirrors = rig.events('mirror');
  const compares = rig.events('compared');
  const relists = rig.events('store').filter((e) => e.state === 'synced' && e.reason === 'periodic');
  for (const [i, w] of windows.entries()) {
    const logged = firstEventAfter(rig, 'reconciled', w.t0);
    if (logged && (i + 1 === windows.length || eventTime(logged.event) < windows[i + 1]!.t0)) {
      samples[i]!.loggedMs = round(logged.ms);
      samples[i]!.reconcileMs = logged.event.durationMs;
    }
    // A mirror ends with its log line; its `haproxy -c` took checkMs before that.
    samples[i]!.duringMirror = mirrors.some((m) => eventTime(m) >= w.t0 && eventTime(m) - m.checkMs <= w.seen);
    // A whole pass logs when it ends; it began durationMs before.
    const compare = compares.find((c) => eventTime(c) >= w.t0 && eventTime(c) - c.durationMs <= w.seen);
    if (compare) samples[i]!.compareMs = compare.durationMs;
    if (relists.some((e) => eventTime(e) >= w.t0 && eventTime(e) <= w.seen)) samples[i]!.duringRelist = true;
  }
  const wall = (clock() - wall0) / 1000;
  const ms = samples.map((s) => s.ms);
  const s = summary(ms);
  log(`one change at ${nodes} nodes: median ${s.median.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms (n ${s.n})`);
  const behind = samples.filter((x) => x.compareMs !== undefined);
  log(`  ${behind.length} met a whole compare (change ms / compare ms: ${behind.map((x) => `${x.ms}/${x.compareMs}`).join(', ') || 'none'}); ${samples.filter((x) => x.duringMirror).length} met a mirror; met a periodic re-list: ${samples.filter((x) => x.duringRelist).map((x) => x.ms).join(', ') || 'none'}`);
  return {
    nodes,
    reps,
    changes: summary(ms),
    byKind: Object.fromEntries((['join', 'weight', 'leave'] as Kind[]).map((k) => [k, summary(samples.filter((x) => x.kind === k).map((x) => x.ms))])),
    withoutMirror: summary(samples.filter((x) => !x.duringMirror).map((x) => x.ms)),
    duringMirror: samples.filter((x) => x.duringMirror).length,
    duringRelist: samples.filter((x) => x.duringRelist).map((x) => x.ms),
    withoutCompare: summary(samples.filter((x) => x.compareMs === undefined).map((x) => x.ms)),
    duringCompare: samples.filter((x) => x.compareMs !== undefined).map((x) => ({ ms: x.ms, compareMs: x.compareMs })),
    /** Passes that read the whole worker during the part, ms each. */
    compares: summary(compares.filter((c) => eventTime(c) >= wall0).map((c) => c.durationMs)),
    logged: summary(samples.flatMap((x) => (x.loggedMs === undefined ? [] : [x.loggedMs]))),
    reconcile: summary(samples.flatMap((x) => (x.reconcileMs === undefined ? [] : [x.reconcileMs]))),
    putMs: summary(samples.map((x) => x.putMs)),
    /** CPU used during the changes, % of one core. */
    cpuPercent: { renderer: round(((cpu1.renderer - cpu0.renderer) / wall) * 100), haproxy: round(((cpu1.haproxy - cpu0.haproxy) / wall) * 100) },
    mirrors: mirrors.filter((m) => eventTime(m) >= wall0).map((m) => ({ checkMs: m.checkMs, bytes: m.bytes })),
    samples,
  };
}
