// Join and leave of one real node through the renderer and HAProxy, seen by a polling client.
// Join: record put → first answer from that node. Leave: key deleted → no request reaches it.
// Meanwhile a keep-alive load with cookies counts failed requests, and `show proc` counts reloads.
import { startLoad } from '../../harness/load.js';
import { startApp, stopApp } from '../../harness/stack.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { clock } from '../machine.js';
import { log } from '../parts.js';
import { type Answer, firstAnswer, lastReached, startPoller } from '../poller.js';
import { summary } from '../stats.js';
import { key, record } from './records.js';
import { Rig, firstEventAfter } from './rig.js';

const isExtra = (a: Answer) => a.tag === 'extra';

export async function joinLeave(reps: number) {
  const rig = await Rig.start();
  await rig.startRenderer();
  const base = await startApp('base', rig.etcd.endpoint);
  const extra = await startApp('extra', rig.etcd.endpoint);
  // The extra node's registrar is not wanted: the benchmark puts and deletes its record itself.
  await extra.registrar.stop();
  try {
    await waitFor(async () => (await rig.healthy()) && (await rig.status()).nodes === 1, 'base node live', 20000);
    const background = startLoad(rig.ha.url, { rps: 20, clients: 5, cookies: true, maxSeconds: 900 });
    const reloadsBefore = await rig.reloads();
    const out: Record<string, { join: number[]; leave: number[]; joinLogged: number[]; leaveLogged: number[] }> = {};
    for (const mode of ['keepalive', 'fresh'] as const) {
      const r = (out[mode] = { join: [], leave: [], joinLogged: [], leaveLogged: [] } as (typeof out)[string]);
      for (let i = 0; i < reps; i++) {
        const joining = startPoller(rig.ha.url, { mode, gapMs: 1, maxMs: 15000, maxRequests: 30000, until: isExtra });
        await joining.ready;
        const t0 = clock();
        await rig.etcd.putLeased(key('extra'), record('extra', { port: extra.port, weight: 100 }));
        const joined = firstAnswer(await joining.done, t0, isExtra);
        if (joined === undefined) throw new Error(`join rep ${i}: the node never answered`);
        r.join.push(joined);
        await sleep(300);
        // Read after the pause: the renderer logs only once it re-read the worker's servers.
        const jr = firstEventAfter(rig, 'reconciled', t0);
        if (jr) r.joinLogged.push(jr.ms);

        // Leaving: poll until no answer from the node for 300 ms.
        let lastSeen = clock();
        const leaving = startPoller(rig.ha.url, {
          mode,
          gapMs: 1,
          maxMs: 15000,
          maxRequests: 30000,
          until: (a) => (isExtra(a) ? ((lastSeen = a.doneAt), false) : a.doneAt - lastSeen > 300),
        });
        await leaving.ready;
        const t1 = clock();
        lastSeen = t1;
        await rig.etcd.client.delete().key(key('extra'));
        const left = lastReached(await leaving.done, t1, isExtra);
        if (left === undefined) throw new Error(`leave rep ${i}: the node kept answering`);
        r.leave.push(left);
        await sleep(300);
        const lr = firstEventAfter(rig, 'reconciled', t1);
        if (lr) r.leaveLogged.push(lr.ms);
      }
      log(`join/leave (${mode}): join median ${summary(r.join).median.toFixed(1)} ms, leave median ${summary(r.leave).median.toFixed(1)} ms`);
    }
    const reloads = (await rig.reloads()) - reloadsBefore;
    const load = await background.stop();
    return {
      reps,
      join: { keepalive: summary(out.keepalive!.join), fresh: summary(out.fresh!.join), reconciledLogged: summary([...out.keepalive!.joinLogged, ...out.fresh!.joinLogged]) },
      leave: { keepalive: summary(out.keepalive!.leave), fresh: summary(out.fresh!.leave), reconciledLogged: summary([...out.keepalive!.leaveLogged, ...out.fresh!.leaveLogged]) },
      raw: out,
      membershipChanges: reps * 4,
      reloads,
      reloadsPerChange: reloads / (reps * 4),
      backgroundLoad: { kind: 'keep-alive GET with cookies, 20 req/s, 5 clients', requests: load.samples.length, failed: load.failed.length, p50: load.p50, p99: load.p99, failures: load.failed.slice(0, 20) },
    };
  } finally {
    await stopApp(base);
    await stopApp(extra);
    await rig.stop();
  }
}
