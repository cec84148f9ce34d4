// Bursts of 100 changes within one second on a pool that fits (MIN_SLOTS=128): 100 joins, then
// 100 weight changes, then 100 graceful leaves. For each: reloads (`show proc`), and the time from the last
// put (committed) to the worker having all 100 as asked (its `show servers state`, polled).
import { parseServersState } from '../../renderer/runtime-state.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { clock, round } from '../machine.js';
import { log } from '../parts.js';
import { summary } from '../stats.js';
import { key, record } from './records.js';
import { Rig } from './rig.js';
import { WorkerProbe } from './worker-probe.js';

const SIZE = 100;
const SPREAD_MS = 9; // 100 changes over ~0.9 s
const address = (k: number) => `127.240.0.${k + 1}`;

type Kind = 'join' | 'weight' | 'leave';

export async function bursts(cycles: number) {
  const rig = await Rig.start();
  await rig.startRenderer({ MIN_SLOTS: '128' });
  const probe = new WorkerProbe(rig.ha.adminSocket);
  const rows: { kind: Kind; cycle: number; reloads: number; spreadMs: number; convergedMs: number; fromFirstMs: number }[] = [];
  try {
    await rig.waitHealthy(20000);
    for (let c = 0; c < cycles; c++) {
      for (const kind of ['join', 'weight', 'leave'] as Kind[]) {
        // A leaving slot is free again at the renderer's next look: joins wait for that, or they would not fit.
        await waitFor(async () => (await rig.status()).backends.webapp!.every((s) => s.state !== 'leaving'), 'no slot leaving', 10000, 100);
        await sleep(1000);
        const weight = kind === 'weight' ? 2 + (c % 200) : 1;
        const before = await rig.reloads();
        const first = clock();
        for (let k = 0; k < SIZE; k++) {
          // A graceful leave, as the registrar's on SIGTERM (mark, then delete): applied at once,
          // however many. 100 deletes without the mark would be held by fail static, by design.
          if (kind === 'leave') {
            await rig.etcd.putLeased(key(`b${k}`), record(`b${k}`, { address: address(k), port: 9, weight, state: 'leaving' }));
            await rig.etcd.client.delete().key(key(`b${k}`));
          }
          else await rig.etcd.putLeased(key(`b${k}`), record(`b${k}`, { address: address(k), port: 9, weight }));
          await sleep(Math.max(0, first + (k + 1) * SPREAD_MS - clock()));
        }
        const last = clock();
        const seen = await WorkerProbe.until(async () => converged(await probe.serversState('webapp'), kind, weight), `burst ${kind} applied`, 30000);
        await sleep(1500); // a late reload would show here
        const reloads = (await rig.reloads()) - before;
        rows.push({ kind, cycle: c, reloads, spreadMs: round(last - first), convergedMs: round(seen - last), fromFirstMs: round(seen - first) });
        log(`burst ${c + 1}/${cycles} ${kind}: ${reloads} reload(s), converged ${round(seen - last)} ms after the last change`);
      }
    }
    const conv = rows.map((r) => r.convergedMs);
    return {
      size: SIZE,
      minSlots: 128,
      bursts: rows.length,
      reloads: rows.reduce((n, r) => n + r.reloads, 0),
      convergedMs: summary(conv),
      byKind: Object.fromEntries((['join', 'weight', 'leave'] as Kind[]).map((k) => [k, summary(rows.filter((r) => r.kind === k).map((r) => r.convergedMs))])),
      rows,
    };
  } finally {
    await rig.stop();
  }
}

/** All 100 as asked: in rotation at their address with `weight` (join, weight), or none in rotation (leave). */
function converged(state: string, kind: Kind, weight: number): boolean {
  const mine = parseServersState(state).filter((s) => s.address.startsWith('127.240.0.') && s.port === 9 && (s.admin & 0x01) === 0);
  if (kind === 'leave') return mine.length === 0;
  return mine.length === SIZE && mine.every((s) => s.weight === weight);
}
