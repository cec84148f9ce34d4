#!/usr/bin/env node
// stack.yml on a single-node swarm (made on 127.0.0.1 if there is none, left again afterwards),
// images tagged LEASEHOLD_TAG (default `swarm`):
// 1. deploy: `docker stack deploy` → 2 webapps UP in HAProxy (credentials included);
// 2. scale 2 → 5: `docker service scale` → all 5 UP in HAProxy, BENCH_REPS times (back to 2 between);
// 3. rolling restart of 5 webapps (`docker service update --force`, start-first, one at a time)
//    under keep-alive GETs with cookies (40 req/s) and keep-alive POSTs (10 req/s), sent from a
//    container on the stack's overlay: failed requests, latency, how long swarm took.
// Writes bench/results/swarm.json. BENCH_BUILD=0 skips the image build.
process.env.LEASEHOLD_TAG ||= 'swarm';
const { buildImages } = await import('../harness/compose.js');
const { SwarmStack } = await import('../harness/swarm.js');
const { sleep } = await import('../harness/wait.js');
const { loadAverage, machine, round } = await import('./machine.js');
const { log } = await import('./parts.js');
const { summary, table, writeResults } = await import('./stats.js');

const REPS = Number(process.env.BENCH_REPS ?? 3);
const stack = new SwarmStack();
const watchdog = setTimeout(() => {
  console.error('bench/swarm: watchdog (10 min): removing the stack');
  void stack.remove().finally(() => process.exit(1));
}, 10 * 60000);

try {
  if (process.env.BENCH_BUILD !== '0') {
    log('building images');
    await buildImages();
  }
  const loadAtStart = loadAverage();
  log(`deploying ${stack.name} (load ${loadAtStart.one})`);
  const deployMs = await stack.deploy(2);
  log(`deployed: 2 UP after ${deployMs} ms`);

  const scaleMs: number[] = [];
  const loadAtScale = loadAverage();
  for (let i = 0; i < REPS; i++) {
    if (i > 0) {
      await stack.scale(2);
      await stack.untilUp(2, 60000);
      await sleep(2000);
    }
    const t0 = Date.now();
    await stack.scale(5);
    await stack.untilUp(5, 90000);
    scaleMs.push(Date.now() - t0);
    log(`scale 2 → 5: all UP after ${scaleMs.at(-1)} ms`);
  }

  const loadAtUpdate = loadAverage();
  const gets = await stack.startLoad({ rps: 40, clients: 10, cookies: true, maxSeconds: 240 });
  const posts = await stack.startLoad({ rps: 10, clients: 5, post: true, maxSeconds: 240 });
  await sleep(2000);
  const updateMs = await stack.rollingRestart(240000);
  const t1 = Date.now();
  await stack.untilUp(5, 60000);
  const upAfterMs = updateMs + (Date.now() - t1);
  await sleep(1000);
  const [g, p] = [await gets.stop(), await posts.stop()];
  log(`rolling restart: swarm done after ${updateMs} ms`);

  const scale = summary(scaleMs);
  table('Swarm: stack.yml on one node', ['what', 'figure', 'load'], [
    ['deploy → 2 webapps UP in HAProxy', `${round(deployMs / 1000)} s`, loadAtStart.one],
    [`scale 2 → 5 → all 5 UP (n=${scale.n})`, `median ${round(scale.median / 1000)} s (min ${round(scale.min / 1000)}, max ${round(scale.max / 1000)})`, loadAtScale.one],
    ['rolling restart of 5 (service update --force)', `${round(updateMs / 1000)} s; 5 new UP after ${round(upAfterMs / 1000)} s`, loadAtUpdate.one],
    ['  keep-alive GET with cookies, 40 req/s', `${g.failed} failed of ${g.requests}, p50 ${g.p50} ms, p99 ${g.p99} ms`, ''],
    ['  keep-alive POST, 10 req/s', `${p.failed} failed of ${p.requests}, p50 ${p.p50} ms, p99 ${p.p99} ms`, ''],
  ]);
  const path = writeResults('swarm', {
    machine: machine(),
    settings: { webapps: 5, updateConfig: 'start-first, parallelism 1, delay 1s', leaseTtl: 5, drainMs: 3000, reps: REPS },
    deploy: { ms: deployMs, load: loadAtStart },
    scale2to5: { ms: scaleMs, summary: scale, load: loadAtScale },
    rollingRestart: {
      swarmMs: updateMs,
      allNewUpMs: upAfterMs,
      load: loadAtUpdate,
      getsWithCookies: { requests: g.requests, failed: g.failed, p50: g.p50, p99: g.p99, nodes: Object.keys(g.byHost).length },
      posts: { requests: p.requests, failed: p.failed, p50: p.p50, p99: p.p99 },
    },
    loadAtEnd: loadAverage(),
  });
  log(`wrote ${path}`);
} finally {
  await stack.remove();
  clearTimeout(watchdog);
}
