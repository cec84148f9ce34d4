// docs/configuration.md is generated from the option definitions (scripts/configuration-doc.mjs):
// this fails when the page differs from what the code says now, so a default changed in the code
// and not in the page (or the other way round) is caught here, not by a user.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import test from 'ava';

/** The repository, from dist/test/unit/. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

interface ConfigDoc {
  DOC: string;
  generate(): string;
  contradicts(docDefault: string, fallback: { v: string | number } | undefined): string | undefined;
}

const script = (): Promise<ConfigDoc> => import(pathToFileURL(join(ROOT, 'scripts/configuration-doc.mjs')).href) as Promise<ConfigDoc>;

test('docs/configuration.md is what scripts/configuration-doc.mjs makes from the code (npm run docs:config)', async (t) => {
  const { DOC, generate } = await script();
  // generate() also throws where a TSDoc "Default ..." contradicts the code's fallback.
  const want = generate();
  const have = readFileSync(join(ROOT, DOC), 'utf8');
  if (have === want) return t.pass();
  // Name the first rows that differ, so the failure says which default drifted.
  const a = have.split('\n');
  const b = want.split('\n');
  const diff: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length) && diff.length < 6; i++) {
    if (a[i] !== b[i]) diff.push(`line ${i + 1}\n  page: ${a[i] ?? '(none)'}\n  code: ${b[i] ?? '(none)'}`);
  }
  t.fail(`${DOC} differs from the code; run npm run docs:config\n${diff.join('\n')}`);
});

test('a TSDoc default is held to the code when both are literals', async (t) => {
  const { contradicts } = await script();
  t.is(contradicts('5000', { v: 5000 }), undefined);
  t.truthy(contradicts('5000', { v: 1000 }));
  t.is(contradicts('`/nodes/`', { v: '/nodes/' }), undefined);
  t.truthy(contradicts('`/nodes`', { v: '/nodes/' }));
  t.is(contradicts('none', { v: '' }), undefined);
  t.truthy(contradicts('none', { v: 'haproxy' }));
  // Words, or another variable's value, cannot be checked against a literal.
  t.is(contradicts('the hostname (the container id in Docker)', { v: 'x' }), undefined);
  t.is(contradicts('`ETCD_CA` (the stack\'s one CA)', { v: '' }), undefined);
  t.is(contradicts('5000', undefined), undefined);
});
