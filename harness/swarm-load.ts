#!/usr/bin/env node
// startLoad (load.ts) run inside a container on a swarm stack's overlay network, where the LB
// is reached without publishing a port. Options as JSON in argv[2]: { url, ...LoadOptions }.
// Stops on a line on stdin (or stdin's end) or at its bounds, then prints one JSON summary line:
// counts, latencies, the first failures, and how many requests each node served.
import { createInterface } from 'node:readline';
import { type LoadOptions, startLoad } from './load.js';

const { url, ...o } = JSON.parse(process.argv[2] ?? '{}') as LoadOptions & { url: string };
const load = startLoad(url, o);
const stopAt = setTimeout(() => void finish(), o.maxSeconds * 1000 + 1000);
let finished = false;
createInterface({ input: process.stdin }).once('line', () => void finish()).once('close', () => void finish());
process.stdout.write('{"started":true}\n');

async function finish(): Promise<void> {
  if (finished) return;
  finished = true;
  clearTimeout(stopAt);
  const r = await load.stop();
  const byHost: Record<string, number> = {};
  for (const s of r.samples) if (s.host) byHost[s.host] = (byHost[s.host] ?? 0) + 1;
  const last = r.samples.reduce((m, s) => Math.max(m, s.at), 0);
  process.stdout.write(`${JSON.stringify({ requests: r.samples.length, failed: r.failed.length, p50: r.p50, p99: r.p99, seconds: last / 1000, firstFailures: r.failed.slice(0, 20), byHost })}\n`);
  process.exit(0);
}
