// The registrar runs in every webapp container, with a Node runtime and nothing else beside it
// (images/registrar/Dockerfile): its scripts may require Node's built-in modules only. zod, pino
// and etcd3 would cost megabytes resident there (docs/benchmarks.md), and would not be found.
import test from 'ava';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../leasehold/bin/', import.meta.url));
const SCRIPTS = ['leasehold-registrar', 'leasehold-run', 'leasehold-agent'];
const builtin = new Set(builtinModules);

/** What a bundled script requires outside itself: names that are not relative paths. */
function outsideRequires(text: string): string[] {
  return [...new Set([...text.matchAll(/\brequire\(\s*["'`]([^"'`]+)["'`]\s*\)/g)].map((m) => m[1]!).filter((p) => !p.startsWith('.')))];
}

for (const name of SCRIPTS) {
  test(`${name} (the bundle, built by npm run build) requires Node's built-in modules only: no zod, pino or etcd3`, (t) => {
    const text = readFileSync(`${bin}${name}`, 'utf8');
    const outside = outsideRequires(text);
    t.true(outside.length > 0, 'a bundle requires node:net at least: the scan sees requires');
    t.deepEqual(outside.filter((p) => !builtin.has(p.replace(/^node:/, ''))), []);
    t.notRegex(text, /node_modules\/(zod|pino|etcd3)\b/);
  });
}

test('the scan finds a package required the ways tsc writes it', (t) => {
  t.deepEqual(outsideRequires('const zod_1 = require("zod");\nconst pino_1 = __importDefault(require("pino"));\nrequire("node:fs"); require("./x");'), ['zod', 'pino', 'node:fs']);
});
