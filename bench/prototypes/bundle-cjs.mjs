// Packs dist/cjs/registrar/main.js and the files it requires into one CommonJS script, as a
// Node single executable application needs (its `require` loads built-in modules only). For the
// runtime study of issue 19 (bench/registrar-runtime.mjs); a bundler would do the same.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const [root, entry, out] = process.argv.slice(2);
const seen = new Map();
function add(file) {
  const id = relative(root, file);
  if (seen.has(id)) return;
  const src = readFileSync(file, 'utf8').replace(/^#!.*\n/, '');
  seen.set(id, src);
  for (const m of src.matchAll(/require\("(\.[^"]+)"\)/g)) add(resolve(dirname(file), m[1]));
}
add(resolve(root, entry));
let text = '"use strict";\nconst __files = {\n';
for (const [id, src] of seen) text += `${JSON.stringify(id)}: function (module, exports, require) {\n${src}\n},\n`;
text += `};
const __cache = {};
const __builtin = require;
function __load(id) {
  if (__cache[id]) return __cache[id].exports;
  const module = (__cache[id] = { exports: {} });
  const dir = id.includes('/') ? id.slice(0, id.lastIndexOf('/')) : '';
  __files[id].call(module.exports, module, module.exports, (p) => {
    if (!p.startsWith('.')) return __builtin(p);
    const parts = (dir ? dir.split('/') : []);
    for (const s of p.split('/')) { if (s === '..') parts.pop(); else if (s !== '.') parts.push(s); }
    return __load(parts.join('/'));
  });
  return module.exports;
}
__load(${JSON.stringify(relative(root, resolve(root, entry)))});
`;
writeFileSync(out, text);
console.log(`${out}: ${seen.size} files, ${text.length} bytes`);
