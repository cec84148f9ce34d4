#!/usr/bin/env node
// The renderer alone against a real etcd and HAProxy on 127.0.0.1:
// - join: record put → first request served by that node through HAProxy;
// - leave: key deleted → no more requests reach the node;
// - one pass (render + check + swap + reload + verify) with 10, 100 and 1,000 nodes;
// - reloads per burst of 100 puts within 1 s;
// - renderer and registrar resident memory.
import { readFileSync } from 'node:fs';
import { TestEtcd } from '../test/helpers/etcd.js';
import { TestHaproxy } from '../test/helpers/haproxy.js';
import { get } from '../test/helpers/http.js';
import { freePort } from '../test/helpers/ports.js';
import { type Proc, node } from '../test/helpers/process.js';
import { startApp, stopApp } from '../test/helpers/stack.js';
import { sleep, waitFor } from '../test/helpers/wait.js';
import { rssMb, summary, table, writeResults } from './stats.js';

const REPS = Number(process.env.BENCH_REPS ?? 20);

const record = (id: string, port: number, weight = 1) =>
  JSON.stringify({ id, service: 'webapp', address: '127.0.0.1', port, tag: id, weight, state: 'up', registeredAt: new Date().toISOString() });

const reloads = (r: Proc) => r.events().filter((e) => e.event === 'reload');

async function main(): Promise<void> {
  const etcd = await TestEtcd.start();
  const ha = await TestHaproxy.start();
  const renderer = node('renderer', 'renderer/main.js', { ETCD_ENDPOINTS: etcd.endpoint, ...ha.rendererEnv(), RENDERER_HEALTH_PORT: String(await freePort()) });
  const base = await startApp('base', etcd.endpoint);
  const extra = await startApp('extra', etcd.endpoint, { REGISTRAR_HEALTH_PORT: '0' });
  // The extra app's registrar is not wanted: the benchmark puts and deletes its record itself.
  await extra.registrar.stop();
  const results: Record<string, unknown> = {};
  try {
    await waitFor(async () => (await get(ha.url)).body?.tag === 'base', 'base node served', 15000);

    // join and leave, one node at a time, through the real frontend
    const join: number[] = [];
    const leave: number[] = [];
    for (let i = 0; i < REPS; i++) {
      const t0 = performance.now();
      await etcd.client.put('/nodes/webapp/extra').value(record('extra', extra.port, 100));
      await waitFor(async () => (await get(ha.url)).body?.tag === 'extra', 'extra served', 10000, 1);
      join.push(performance.now() - t0);
      await sleep(300);
      const t1 = performance.now();
      await etcd.client.delete().key('/nodes/webapp/extra');
      // Out of rotation: 20 requests in a row all answered by base.
      await waitFor(async () => {
        for (let k = 0; k < 20; k++) if ((await get(ha.url)).body?.tag !== 'base') return false;
        return true;
      }, 'extra out of rotation', 10000, 1);
      leave.push(performance.now() - t1);
      await sleep(300);
    }
    results.join = summary(join);
    results.leave = summary(leave);
    table('join / leave (renderer + HAProxy, ms)', ['what', 'n', 'min', 'median', 'p99', 'max'], [
      ['put → first request served', ...Object.values(results.join as object)],
      ['delete → out of rotation', ...Object.values(results.leave as object)],
    ]);

    // one pass at 10 / 100 / 1,000 nodes: change one record's weight, time the pass the renderer reports
    const passes: Record<string, unknown> = {};
    const rows: (string | number)[][] = [];
    let have = 0;
    for (const n of [10, 100, 1000]) {
      for (; have < n; have += 100) {
        const ops = [];
        for (let i = have; i < Math.min(n, have + 100); i++) ops.push(etcd.client.put(`/nodes/webapp/n${i}`).value(record(`n${i}`, 9)));
        await Promise.all(ops);
      }
      have = n;
      await waitFor(() => reloads(renderer).at(-1)?.servers === n + 1, `${n} nodes live`, 60000);
      const pass: number[] = [];
      const check: number[] = [];
      const reload: number[] = [];
      const reps = n === 1000 ? Math.min(REPS, 10) : REPS;
      for (let i = 0; i < reps; i++) {
        const before = reloads(renderer).length;
        await etcd.client.put('/nodes/webapp/n0').value(record('n0', 9, 1 + ((i + 1) % 2)));
        const e = await waitFor(() => reloads(renderer)[before], 'pass', 30000, 5);
        pass.push(e.passMs);
        check.push(e.checkMs);
        reload.push(e.durationMs);
        await sleep(200);
      }
      passes[n] = { pass: summary(pass), check: summary(check), reload: summary(reload), bytes: reloads(renderer).at(-1)!.bytes };
      rows.push([n, summary(pass).median, summary(check).median, summary(reload).median, summary(pass).max]);
    }
    results.pass = passes;
    table('one pass: render + check + swap + reload + verify (ms)', ['nodes', 'pass median', 'haproxy -c median', 'reload+verify median', 'pass max'], rows);
    await etcd.client.delete().prefix('/nodes/webapp/n').exec();
    await waitFor(() => reloads(renderer).at(-1)?.servers === 1, 'back to 1 node', 60000);

    // bursts of 100 puts within one second
    const perBurst: number[] = [];
    for (let b = 0; b < 5; b++) {
      await sleep(1500);
      const before = reloads(renderer).length;
      const t0 = Date.now();
      for (let i = 0; i < 100; i++) {
        await etcd.client.put(`/nodes/webapp/burst${i}`).value(record(`burst${i}`, 9, 1 + (b % 2)));
        await sleep(Math.max(0, t0 + i * 9 - Date.now()));
      }
      await waitFor(() => reloads(renderer).at(-1)?.servers === 101 && reloads(renderer).length > before, 'burst applied', 30000);
      await sleep(1500);
      perBurst.push(reloads(renderer).length - before);
    }
    results.burst = { reloadsPerBurst: perBurst, ...summary(perBurst) };
    table('burst of 100 puts in 1 s', ['bursts', 'reloads each'], [[perBurst.length, perBurst.join(', ')]]);

    // memory
    const rss = {
      renderer: rssMb(readFileSync(`/proc/${renderer.child.pid}/status`, 'utf8')),
      registrar: rssMb(readFileSync(`/proc/${base.registrar.child.pid}/status`, 'utf8')),
    };
    results.rssMb = rss;
    table('resident memory (MB)', ['renderer (101 nodes)', 'registrar'], [[rss.renderer, rss.registrar]]);
    console.log(`\nwrote ${writeResults('renderer', { reps: REPS, ...results })}`);
  } finally {
    await stopApp(base);
    await stopApp(extra);
    await renderer.stop();
    await ha.stop();
    await etcd.stop();
  }
}

await main();
