// The layers of the sources, read from their import lines: common/ is the base every part may
// use, the CLI reads the renderer's contracts from common/ (never renderer/), and no file
// reaches itself through its imports (a cycle makes load order decide what is undefined).
import test from 'ava';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const PARTS = ['common', 'cli', 'registrar', 'renderer'];

/** What `file` imports by relative path (type-only imports included), as repo paths. */
function relativeImports(file: string): string[] {
  const src = readFileSync(join(root, file), 'utf8');
  return [...src.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => relative(root, join(root, dirname(file), m[1]!)));
}

/** Every .ts file of the parts, with its relative imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const part of PARTS) {
    for (const name of readdirSync(join(root, part)).filter((f) => f.endsWith('.ts'))) {
      const file = `${part}/${name}`;
      graph.set(file, relativeImports(file).map((d) => d.replace(/\.js$/, '.ts')));
    }
  }
  return graph;
}

/** One cycle as `a → b → a`, or undefined. */
function findCycle(graph: Map<string, string[]>): string | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (f: string): string | undefined => {
    if (state.get(f) === 'done') return undefined;
    if (state.get(f) === 'open') return [...path.slice(path.indexOf(f)), f].join(' → ');
    state.set(f, 'open');
    path.push(f);
    for (const g of graph.get(f) ?? []) {
      const found = visit(g);
      if (found) return found;
    }
    path.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of graph.keys()) {
    const found = visit(f);
    if (found) return found;
  }
  return undefined;
}

const graph = importGraph();
const importsOf = (from: string, to: string) => [...graph].flatMap(([f, deps]) => (f.startsWith(`${from}/`) ? deps.filter((d) => d.startsWith(`${to}/`)).map((d) => `${f} → ${d}`) : []));

test('the import graph is read: every import resolves to a source file', (t) => {
  t.true(graph.size > 50, `${graph.size} files`);
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => PARTS.some((p) => d.startsWith(`${p}/`)) && !graph.has(d)).map((d) => `${f} → ${d}`));
  t.deepEqual(missing, []);
});

test('no import cycle in common/, cli/, registrar/ and renderer/', (t) => {
  t.is(findCycle(graph), undefined);
});

test('the cycle check finds a cycle', (t) => {
  t.is(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['b']]])), 'b → c → b');
  t.is(findCycle(new Map([['a', ['b', 'c']], ['b', ['c']], ['c', []]])), undefined);
});

test('the CLI imports nothing from renderer/ (the contracts it shares are in common/)', (t) => {
  t.deepEqual(importsOf('cli', 'renderer'), []);
});

test('common/ imports from no part that uses it', (t) => {
  t.deepEqual(['cli', 'registrar', 'renderer'].flatMap((p) => importsOf('common', p)), []);
});

/** Every .ts file under `dir`, as repo paths. */
function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? tsFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );
}

test('bench/ and harness/ import nothing under test/ (the harness they share with the suites is harness/)', (t) => {
  const under = [...tsFiles('bench'), ...tsFiles('harness')].flatMap((f) =>
    relativeImports(f)
      .filter((d) => d.startsWith('test/'))
      .map((d) => `${f} → ${d}`),
  );
  t.true(tsFiles('bench').length > 20);
  t.deepEqual(under, []);
});

test('the registrar imports nothing from the renderer or the CLI', (t) => {
  t.deepEqual(['cli', 'renderer'].flatMap((p) => importsOf('registrar', p)), []);
});
