// First full sync: the renderer starts with every record already in etcd and HAProxy on its
// bootstrap config (no servers). Timed from the renderer's spawn to every node in rotation in the
// worker (`show servers state`, polled), with the reloads it took and where the time went.
import { parseServersState } from '../../renderer/runtime-state.js';
import { clock, round } from '../machine.js';
import { log } from '../parts.js';
import { type Rig, eventTime } from './rig.js';
import { WorkerProbe } from './worker-probe.js';

export async function firstSync(rig: Rig, nodes: number, env: Record<string, string>) {
  // Short exchanges: until the first reload there is no admin socket, and a failed look is retried.
  const probe = new WorkerProbe(rig.ha.adminSocket, 100);
  const t0 = clock();
  await rig.startRenderer(env);
  const live = await WorkerProbe.until(
    async () => parseServersState(await probe.serversState('webapp')).filter((s) => (s.admin & 0x01) === 0).length === nodes,
    `${nodes} nodes in rotation`,
    120000,
    20,
  );
  await rig.waitHealthy(60000);
  const healthyAt = clock();
  const at = (e?: Record<string, any>) => (e ? round(eventTime(e) - t0) : undefined);
  const listed = rig.events('store').find((e) => e.state === 'synced');
  const reloads = rig.events('reload');
  const result = {
    nodes,
    liveMs: round(live - t0),
    healthyMs: round(healthyAt - t0),
    reloads: await rig.reloads(),
    steps: {
      listedMs: at(listed),
      reloads: reloads.map((e) => ({ atMs: at(e), cause: e.cause, slots: e.slots, bytes: e.bytes, checkMs: e.checkMs, reloadMs: e.durationMs })),
    },
  };
  log(`first sync at ${nodes} nodes: every node live after ${result.liveMs} ms, ${result.reloads} reload(s)`);
  return result;
}
