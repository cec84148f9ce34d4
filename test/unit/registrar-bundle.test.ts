// The registrar runs in every webapp container, with a Node runtime and nothing else beside it
// (images/registrar/Dockerfile): its scripts may require Node's built-in modules only. zod, pino
// and etcd3 would cost megabytes resident there (docs/benchmarks.md), and would not be found.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

for (const name of SCRIPTS) {
  test(`${name}: every file it requires from itself is in the bundle, required with either quote`, (t) => {
    const text = readFileSync(`${bin}${name}`, 'utf8');
    const files = new Set([...text.matchAll(/^("[^"\n]+\.js"): function \(module, exports, require\) \{$/gm)].map((m) => JSON.parse(m[1]!) as string));
    t.true(files.size > 3);
    for (const [id, src] of bundledFiles(text)) {
      const dir = id.includes('/') ? id.slice(0, id.lastIndexOf('/')) : '';
      for (const m of src.matchAll(/\brequire\((["'])(\.[^"']+)\1\)/g)) {
        const parts = dir ? dir.split('/') : [];
        for (const s of m[2]!.split('/')) { if (s === '..') parts.pop(); else if (s !== '.') parts.push(s); }
        t.true(files.has(parts.join('/')), `${id} requires ${m[2]}, not in ${name}`);
      }
    }
  });
}

/** Each file of a bundle: its id and its source. */
function bundledFiles(text: string): [string, string][] {
  const heads = [...text.matchAll(/^("[^"\n]+\.js"): function \(module, exports, require\) \{$/gm)];
  return heads.map((h, i) => [JSON.parse(h[1]!) as string, text.slice(h.index! + h[0].length, heads[i + 1]?.index ?? text.length)]);
}

test('leasehold-run starts the app before it loads node:http, node:tls and node:https (its etcd client and app check): the app does not wait for them', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lh-bundle-'));
  try {
    const preload = join(dir, 'order.cjs');
    const out = join(dir, 'order');
    writeFileSync(preload, `const Module = require('node:module'); const cp = require('node:child_process'); const fs = require('node:fs');
const order = [];
const load = Module._load; Module._load = function (req, ...a) { const m = /^(?:node:)?(https?|tls)$/.exec(req); if (m && !order.includes(m[1])) order.push(m[1]); return load.call(this, req, ...a); };
const spawn = cp.spawn; cp.spawn = function (...a) { order.push('spawn'); return spawn.apply(this, a); };
process.on('exit', () => fs.writeFileSync(${JSON.stringify(out)}, order.join(',')));
`);
    const r = spawnSync(process.execPath, ['--require', preload, `${bin}leasehold-run`, '--', 'true'], {
      env: { PATH: process.env.PATH, ETCD_ENDPOINTS: 'https://127.0.0.1:9', SERVICE: 'bundle-test', PORT: '8080', LOG_LEVEL: 'error' },
      timeout: 20000, encoding: 'utf8',
    });
    t.is(r.status, 0, `leasehold-run exits with the app's status: ${r.stderr}${r.stdout}`);
    const order = readFileSync(out, 'utf8').split(',');
    t.is(order[0], 'spawn', order.join(','));
    t.true(order.includes('https'), 'the scan sees node:https loaded (an https endpoint)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
