// A 20 s streaming response during scale 2 → 6 → 2: one stream started at 2 webapps (the target),
// and one more per webapp once there are 6, so some run on the webapps the scale-down stops
// (they must finish during the drain). A light keep-alive load counts failures meanwhile.
import { type ComposeStack } from '../../harness/compose.js';
import { startLoad, streamRequest } from '../../harness/load.js';
import { sleep } from '../../harness/wait.js';
import { log } from '../parts.js';

const SECONDS = 20;

export async function streams(stack: ComposeStack) {
  await stack.scale(2);
  await stack.converged(60000);
  const base = new Set((await stack.containers('webapp')).map((c) => c.Id));
  const before = await stack.haProc();
  const load = startLoad(stack.url, { rps: 20, clients: 5, cookies: true, maxSeconds: 120 });
  const first = streamRequest(stack.url, SECONDS);
  await sleep(1000);
  await stack.scale(6);
  await stack.converged(60000);
  const added = await Promise.all((await stack.containers('webapp')).filter((c) => !base.has(c.Id)).map(async (c) => (await stack.webapp(c.Id)).hostname));
  const more = Array.from({ length: 6 }, () => streamRequest(stack.url, SECONDS));
  await sleep(2000);
  await stack.scale(2);
  await stack.converged(90000);
  const running = new Set(await stack.webappIds());
  const removed = added.filter((h) => !running.has(h));
  const results = await Promise.all([first, ...more]);
  const l = await load.stop();
  const after = await stack.haProc();
  const rows = results.map((s, i) => {
    const host = /^tick \d+ (\S+)/.exec(s.lines[0] ?? '')?.[1];
    return { which: i === 0 ? 'started at 2 webapps' : 'started at 6', host, onRemovedNode: host !== undefined && removed.includes(host), complete: s.complete, status: s.status, lines: s.lines.length, ms: s.ms, error: s.error };
  });
  log(`streams: ${rows.filter((r) => r.complete).length}/${rows.length} complete, ${rows.filter((r) => r.onRemovedNode).length} on a removed webapp`);
  return {
    seconds: SECONDS,
    firstComplete: rows[0]!.complete,
    complete: rows.filter((r) => r.complete).length,
    streams: rows.length,
    onRemovedNodes: rows.filter((r) => r.onRemovedNode).length,
    onRemovedNodesComplete: rows.filter((r) => r.onRemovedNode && r.complete).length,
    rows,
    load: { kind: 'keep-alive GET with cookies, 20 req/s', requests: l.samples.length, failed: l.failed.length, p50: l.p50, p99: l.p99 },
    reloads: after.reloads - before.reloads,
  };
}
