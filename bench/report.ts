#!/usr/bin/env node
// Every DESIGN.md target against the latest results: prints one table and writes
// bench/results/targets.json. Run after bench/renderer.ts and bench/convergence.ts.
import { existsSync, readFileSync } from 'node:fs';
import { RESULTS, table, writeResults } from './stats.js';
import { targets } from './targets.js';

const read = (name: string) => (existsSync(`${RESULTS}${name}.json`) ? JSON.parse(readFileSync(`${RESULTS}${name}.json`, 'utf8')) : undefined);
const alone = read('renderer');
const compose = read('convergence');
const rows = targets(alone, compose);
table('DESIGN.md targets', ['what', 'target', 'measured', 'n', 'met', 'load at start'], rows.map((r) => [r.what, r.target, r.measured, r.n ?? '', r.met === undefined ? '-' : r.met ? 'yes' : 'NO', r.load ?? '']));
console.log(`\nresults of ${alone?.date ?? '-'} (renderer alone) and ${compose?.date ?? '-'} (compose)`);
console.log(`wrote ${writeResults('targets', { rendererDate: alone?.date, convergenceDate: compose?.date, rows })}`);
