#!/usr/bin/env node
// Every one of the project's targets against the latest results: prints one table and writes
// bench/results/targets.json. Run after bench/renderer.ts, bench/convergence.ts and bench/cluster.ts.
import { existsSync, readFileSync } from 'node:fs';
import { RESULTS, table, writeResults } from './stats.js';
import { targets } from './targets.js';

const read = (name: string) => (existsSync(`${RESULTS}${name}.json`) ? JSON.parse(readFileSync(`${RESULTS}${name}.json`, 'utf8')) : undefined);
const alone = read('renderer');
const compose = read('convergence');
const cluster = read('cluster');
const rows = targets(alone, compose, cluster);
table('targets', ['what', 'target', 'measured', 'n', 'met', 'load at start'], rows.map((r) => [r.what, r.target, r.measured, r.n ?? '', r.met === undefined ? '-' : r.met ? 'yes' : 'NO', r.load ?? '']));
console.log(`\nresults of ${alone?.date ?? '-'} (renderer alone), ${compose?.date ?? '-'} (compose) and ${cluster?.date ?? '-'} (cluster)`);
console.log(`wrote ${writeResults('targets', { rendererDate: alone?.date, convergenceDate: compose?.date, clusterDate: cluster?.date, rows })}`);
