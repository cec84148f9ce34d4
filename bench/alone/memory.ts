// The renderer's resident memory with a given number of nodes, after it has worked a while:
// every node live, 20 weight changes, then a few quiet seconds (a periodic reconcile and the
// config mirror have run). A fresh renderer, so what an earlier, larger pool left behind in its
// heap does not count.
import { sleep } from '../../harness/wait.js';
import { log } from '../parts.js';
import { key, synthetic } from './records.js';
import type { Rig } from './rig.js';

export async function settledMemory(rig: Rig, nodes: number): Promise<{ nodes: number; rss: number; peak: number }> {
  for (let k = 0; k < 20; k++) {
    const i = k % nodes;
    await rig.etcd.putLeased(key(`n${i}`), synthetic(i, 2 + k));
    await sleep(300);
  }
  await sleep(6000);
  const m = rig.rendererMemory();
  log(`renderer at ${nodes} nodes: ${m.rss} MB resident (peak ${m.peak} MB)`);
  return { nodes, ...m };
}
