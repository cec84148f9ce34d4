#!/usr/bin/env node
// Draws bench/results/plots/*.svg from the committed results (no benchmark is run): requests
// over time through the churn, one change's latency and memory against pool size. A plot whose
// data are missing is skipped with the reason and the run that makes them.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { changeLatencyByPool, memoryByPool, requestsOverTime } from './plot-data.js';
import { RESULTS } from './stats.js';
import { svg } from './svg.js';

const read = (name: string) => (existsSync(`${RESULTS}${name}.json`) ? JSON.parse(readFileSync(`${RESULTS}${name}.json`, 'utf8')) : undefined);
const renderer = read('renderer');
const convergence = read('convergence');
const dir = `${RESULTS}plots/`;
mkdirSync(dir, { recursive: true });
for (const plot of [requestsOverTime(convergence), changeLatencyByPool(renderer), memoryByPool(renderer, convergence)]) {
  if ('missing' in plot) {
    console.log(`skipped ${plot.file}: ${plot.missing}`);
    continue;
  }
  writeFileSync(`${dir}${plot.file}`, svg(plot.charts));
  console.log(`wrote ${dir}${plot.file}`);
}
