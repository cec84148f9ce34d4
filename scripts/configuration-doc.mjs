#!/usr/bin/env node
// docs/configuration.md, generated from the code: every environment variable, its default and its
// meaning. The programs' options are read from their sources with the TypeScript parser: each
// `str(env, 'NAME', default)`, `int(env, 'NAME', default, min, max)` and `list(env, 'NAME', [...])`
// gives a name and a default; the TSDoc that says "Env `NAME`" gives the meaning. The images'
// shell scripts and the compose files give theirs as `${NAME:-default}`; their meanings are below.
//
// Why: defaults used to be written three times (code, TSDoc, README) and drifted. Now the code is
// the one place; a TSDoc "Default ..." that contradicts it stops this script, and
// test/unit/configuration-doc.test.ts fails when docs/configuration.md is not what this prints.
//
//   node scripts/configuration-doc.mjs           print the page
//   node scripts/configuration-doc.mjs --write   write docs/configuration.md (npm run docs:config)
//   node scripts/configuration-doc.mjs --check   exit 1 if docs/configuration.md differs
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DOC = 'docs/configuration.md';

/** The programs' option sources, and who reads them. Order: which TSDoc wins for a shared name. */
const SOURCES = [
  ['common/etcd-options.ts', ['registrar', 'leasehold-run', 'agent', 'renderer', 'leasehold']],
  ['registrar/options.ts', ['registrar', 'leasehold-run', 'agent']],
  ['registrar/agent-main.ts', ['agent']],
  ['registrar/run-main.ts', ['leasehold-run']],
  ['renderer/options.ts', ['renderer']],
  ['cli/args.ts', ['leasehold']],
  ['cli/main.ts', ['leasehold']],
  ['renderer/page-lbs.ts', ['renderer']],
  ['images/webapp/server.ts', ['webapp']],
];

/** Names read in those sources that are no option of their own. */
const NOT_OPTIONS = new Set([
  'SUDO_USER', // part of LEASEHOLD_USER's default
  'NODE_OPTIONS', // Node's own; leasehold-run only warns about it
  'RENDERER_HEALTH_PEERS', // gone: the renderer refuses to start with it and says what replaced it
]);

/** Shell scripts and compose files, with `${NAME:-default}`. */
const FILES = [
  'Makefile',
  'compose.yml',
  'compose.cluster.yml',
  'compose.etcd-port.yml',
  'stack.yml',
  'stack.publish.yml',
  'stack.stats.yml',
  'images/etcd/leasehold-pki',
  'images/etcd/leasehold-etcd',
  'images/ha/leasehold',
  'images/Dockerfile',
  'images/ha/s6/haproxy/run',
  'images/ha/s6/renderer/run',
  'scripts/stack-secrets.sh',
  'scripts/setup.sh',
];

/** What the variables of those files mean (their defaults come from the files). */
const FILE_MEANINGS = {
  LB_BIND: 'Address the load balancer and its stats page are published on.',
  LB_PORT: 'Published port of the load balancer (LB 1 in the cluster; the LB node\'s port in Swarm).',
  STATS_PORT: 'Published port of HAProxy\'s stats page, CSV and `/metrics` (LB 1 in the cluster; Swarm: only with stack.stats.yml).',
  LB2_PORT: 'Published port of LB 2 (cluster).',
  STATS2_PORT: 'Published port of LB 2\'s stats page (cluster).',
  ETCD_BIND: 'Address etcd\'s port is published on (only with compose.etcd-port.yml).',
  ETCD_PORT: 'Published port of etcd (only with compose.etcd-port.yml).',
  ETCD_STATE: '`existing` to bring back a cluster member whose volume was lost, after `etcdctl member add`.',
  EXTRA_CA_CERTS: 'PEM text of the CAs a TLS-intercepting proxy signs with, for `npm ci` during image builds only.',
  LEASEHOLD_TAG: 'Tag of the leasehold images.',
  LEASEHOLD_RUN: 'A label the test suites put on their containers, to find and remove them.',
  LEASEHOLD_SECRETS: 'Prefix of the Swarm stack\'s docker secrets.',
  LEASEHOLD_SUBNET: 'Subnet of the Swarm stack\'s overlay network (the webapps\' `ADVERTISE_NETWORK` and the LB\'s `ALLOWED_NETWORKS`).',
  REGISTRAR_SERVICES: 'Services that get a registrar user and a credentials volume (comma- or space-separated).',
  PKI_SERVER_NAMES: 'Names and addresses in etcd\'s server certificate.',
  PKI_DAYS: 'Lifetime of the certificates, in days; made again within 30 days of their end.',
  PKI_CA_DAYS: 'Lifetime of the CA, in days.',
  PKI_PEER: '1: also make the etcd peer certificate (CN `etcd-peer`) and the renderers\' peer certificate (cluster, Swarm).',
  PKI_COOKIE_KEY: '1: also make the sticky cookies\' key that several LBs share.',
  PKI_DIR: 'Where the credentials\' one-shot writes its volumes.',
  BOOTSTRAP_PORT: 'Loopback port on which a new etcd data directory gets its users and roles before etcd serves the network.',
  LEASEHOLD_AUTH_SETUP: '1: this etcd member sets up users and roles; 0: it waits on loopback until auth is on (the other cluster members).',
  LEASEHOLD_PKI: 'Where the etcd image finds its credentials.',
  LEASEHOLD_ETCD_CERT: 'The CLI\'s own client certificate in the ha image (its Common Name is its etcd user), instead of the container\'s `ETCD_CERT`. compose.yml gives it the operator\'s.',
  LEASEHOLD_ETCD_KEY: 'Its key.',
  STATS_PASSWORD_FILE: 'File with the stats page\'s password (user `leasehold`). Unset: the page is open.',
  COOKIE_KEY_FILE: 'File with the sticky cookies\' key, read into `COOKIE_KEY` (every LB of a cluster reads the same one).',
  BASE_IMAGE: 'Base image of the leasehold images; built with debootstrap when it cannot be pulled.',
  DEBIAN_MIRROR: 'Debian mirror debootstrap builds the base image from.',
};

/** Variables of those files that are not leasehold's to document. */
const FILE_IGNORED = new Set([
  'CHECK_S', 'OPS', 'STATS_PASSWORD', 'VERSION_CODENAME', 'NODE_VERSION', // local shell variables
  'ETCDCTL_ENDPOINTS', 'ETCDCTL_CERT', 'ETCDCTL_KEY', 'ETCD_CERT_FILE', 'ETCD_KEY_FILE', 'ETCD_TRUSTED_CA_FILE', 'ETCD_DATA_DIR', // etcd's own, set by the image
]);

const read = (p) => readFileSync(join(ROOT, p), 'utf8');

/** A JSDoc comment's text on one line. */
function clean(doc) {
  return doc
    .replace(/^\/\*\*|\*\/$/g, '')
    .split('\n')
    .map((l) => l.replace(/^\s*\* ?/, '').trim())
    .join(' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Sentences, not split after "e.g." or "i.e.". */
function sentences(text) {
  return text.split(/(?<!\be\.g|\bi\.e)\.\s+(?=[A-Z`(])/).map((s, i, all) => (i < all.length - 1 ? `${s}.` : s)).filter(Boolean);
}

const ENV_LIST = /\bEnv ((?:`[A-Z][A-Z0-9_]*`(?:(?:,\s*|\s+)(?:and\s+|or\s+)?(?=`))?)+)/;

/** A doc's env names, its meaning (less the Env list and the Default sentence) and its default. */
function parseDoc(text) {
  const m = ENV_LIST.exec(text);
  if (!m) return undefined;
  const names = [...m[1].matchAll(/`([A-Z][A-Z0-9_]*)`/g)].map((x) => x[1]);
  let meaning = [];
  let dflt;
  for (const s of sentences(text)) {
    const d = /^Default(?::|\s)\s*(.*?)\.?$/.exec(s);
    if (d) {
      dflt = d[1];
      continue;
    }
    if (s.includes(m[0])) {
      const rest = s.replace(m[0], '').replace(/^[\s,;:.]+/, '').trim();
      if (rest && rest !== '.') meaning.push(rest[0].toUpperCase() + rest.slice(1));
      continue;
    }
    meaning.push(s);
  }
  return { names, meaning: meaning.join(' ').trim(), dflt };
}

/** A fallback argument's value when it is a literal: a string, a number or a list of strings. */
function literal(node, checker) {
  if (!node) return undefined;
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return { v: node.text };
  if (ts.isNumericLiteral(node)) return { v: Number(node.text) };
  if (ts.isArrayLiteralExpression(node) && node.elements.every((e) => ts.isStringLiteral(e) || ts.isIdentifier(e))) {
    const parts = node.elements.map((e) => literal(e, checker)?.v);
    if (parts.every((p) => typeof p === 'string')) return { v: parts.join(',') };
    return undefined;
  }
  if (ts.isIdentifier(node)) {
    const t = checker.getTypeAtLocation(node);
    if (t.isStringLiteral()) return { v: t.value };
    if (t.isNumberLiteral()) return { v: t.value };
  }
  return undefined;
}

/** The JSDoc right before the statement or property a node sits in. */
function leadingDoc(node, text) {
  for (let n = node; n && !ts.isSourceFile(n); n = n.parent) {
    if (ts.isVariableStatement(n) || ts.isPropertyAssignment(n) || ts.isExpressionStatement(n) || ts.isFunctionDeclaration(n)) {
      const ranges = ts.getLeadingCommentRanges(text, n.getFullStart()) ?? [];
      const docs = ranges.map((r) => text.slice(r.pos, r.end)).filter((c) => c.startsWith('/**'));
      if (docs.length) return clean(docs[docs.length - 1]);
      if (ts.isVariableStatement(n) || ts.isFunctionDeclaration(n)) return undefined;
    }
  }
  return undefined;
}

/** Source files that read options with str/int/list but are not in SOURCES: a new option's home, undocumented. */
function unlistedSources() {
  const listed = new Set(SOURCES.map(([f]) => f));
  const out = [];
  for (const dir of ['common', 'registrar', 'renderer', 'cli', 'images/webapp']) {
    for (const f of readdirSync(join(ROOT, dir), { recursive: true })) {
      const path = `${dir}/${f}`;
      if (!path.endsWith('.ts') || listed.has(path)) continue;
      if (/\b(str|int|list)\((process\.)?env, '[A-Z]/.test(read(path))) out.push(path);
    }
  }
  return out;
}

/** Every option the programs read: name → readers, defaults per reader, meaning. */
function programOptions() {
  const program = ts.createProgram(SOURCES.map(([f]) => join(ROOT, f)), { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, noEmit: true, skipLibCheck: true, types: [] });
  const checker = program.getTypeChecker();
  const options = new Map();
  const problems = [];
  const pending = [];
  const fields = new Map();
  for (const [file, readers] of SOURCES) {
    const sf = program.getSourceFile(join(ROOT, file));
    if (!sf) throw new Error(`${file}: not found`);
    const text = sf.getFullText();
    // Every JSDoc in the file that names env variables.
    const docs = new Map();
    for (const c of text.matchAll(/\/\*\*[\s\S]*?\*\//g)) {
      const d = parseDoc(clean(c[0]));
      if (d) for (const n of d.names) if (!docs.has(n)) docs.set(n, d);
    }
    // An option's field name in its TSDoc (`failStaticWindowMs`) is shown as its variable.
    const fieldOf = (node) => {
      if (ts.isPropertySignature(node) && node.name && ts.isIdentifier(node.name)) {
        const c = (ts.getLeadingCommentRanges(text, node.getFullStart()) ?? []).map((r) => text.slice(r.pos, r.end)).filter((x) => x.startsWith('/**')).pop();
        const d = c && parseDoc(clean(c));
        if (d && d.names.length === 1) fields.set(node.name.text, d.names[0]);
      }
      ts.forEachChild(node, fieldOf);
    };
    fieldOf(sf);
    // Defaults a program sets before the environment's: `{ NAME: 'v', ...process.env }`.
    const overrides = new Map();
    const reads = [];
    const visit = (node) => {
      if (ts.isObjectLiteralExpression(node) && node.properties.some((p) => ts.isSpreadAssignment(p) && p.expression.getText(sf) === 'process.env')) {
        for (const p of node.properties) if (ts.isPropertyAssignment(p) && /^[A-Z][A-Z0-9_]*$/.test(p.name.getText(sf)) && ts.isStringLiteral(p.initializer)) overrides.set(p.name.getText(sf), p.initializer.text);
      }
      if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && ['str', 'int', 'list', 'oneOf'].includes(node.expression.text)) {
        const kind = node.expression.text;
        // oneOf(env, NAME, [words], default): its TSDoc names the words.
        const [envArg, nameArg, ...rest] = node.arguments;
        const [fallback, min, max] = kind === 'oneOf' ? [rest[1]] : rest;
        if (envArg && nameArg && ts.isStringLiteral(nameArg) && /env$/i.test(envArg.getText(sf))) {
          reads.push({ name: nameArg.text, kind, fallback: literal(fallback, checker), min: min && literal(min, checker)?.v, max: max && literal(max, checker)?.v, callDoc: leadingDoc(node, text) });
        }
      }
      if (ts.isPropertyAccessExpression(node) && /^(process\.)?env$/.test(node.expression.getText(sf)) && /^[A-Z][A-Z0-9_]*$/.test(node.name.text)) {
        if (docs.has(node.name.text)) reads.push({ name: node.name.text, kind: 'str', fallback: { v: '' }, callDoc: undefined });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
    const seen = new Set();
    for (const r of reads) {
      if (NOT_OPTIONS.has(r.name) || seen.has(r.name)) continue;
      seen.add(r.name);
      const doc = docs.get(r.name) ?? (r.callDoc ? { meaning: r.callDoc } : undefined);
      const o = options.get(r.name) ?? { name: r.name, readers: [], defaults: [], meaning: undefined, range: undefined };
      options.set(r.name, o);
      for (const who of readers) if (!o.readers.includes(who)) o.readers.push(who);
      if (o.meaning === undefined && doc?.meaning) o.meaning = doc.meaning;
      if (r.kind === 'int' && r.min !== undefined && r.max !== undefined && !o.range) o.range = `${r.min} to ${r.max}`;
      // The default shown: the code's literal; the TSDoc's words where the code computes it.
      let shown;
      if (doc?.dflt !== undefined) {
        const err = contradicts(doc.dflt, r.fallback);
        if (err) problems.push(`${file}: ${r.name}: the TSDoc says "Default ${doc.dflt}", the code ${err}`);
        shown = r.fallback && r.fallback.v !== '' && !/^[a-z(]/.test(doc.dflt) ? code(r.fallback.v) : doc.dflt;
      } else if (r.fallback) {
        shown = r.fallback.v === '' ? 'none' : code(r.fallback.v);
      }
      if (shown !== undefined) o.defaults.push({ who: readers, shown, documented: !!docs.get(r.name) });
    }
    for (const [name, v] of overrides) pending.push({ file, name, v, readers });
  }
  // A program's own defaults for options another file reads (leasehold-run's for the registrar's).
  for (const { file, name, v, readers } of pending) {
    const o = options.get(name);
    if (!o) problems.push(`${file}: sets a default for ${name}, which no option reads`);
    else o.defaults.push({ who: readers, shown: code(v), override: true });
  }
  for (const o of options.values()) {
    // Where a TSDoc states the default, a file that only falls back in code (the renderer's
    // ETCD_CA, read for its peer CA) does not add another.
    if (o.defaults.some((d) => d.documented)) o.defaults = o.defaults.filter((d) => d.documented || d.override);
    for (const [field, name] of fields) {
      o.meaning = o.meaning?.replaceAll(`\`${field}\``, `\`${name}\``);
      o.defaults = o.defaults.map((d) => ({ ...d, shown: d.shown.replaceAll(`\`${field}\``, `\`${name}\``) }));
    }
  }
  for (const o of options.values()) if (!o.meaning) problems.push(`${o.name}: no TSDoc says what it is (write "Env \`${o.name}\`" in the doc of the option that reads it)`);
  if (problems.length) throw new Error(`configuration-doc: the option definitions disagree:\n  ${problems.join('\n  ')}`);
  return [...options.values()];
}

/** Why a TSDoc default contradicts the code's literal, or undefined when it does not (or cannot be told). */
export function contradicts(docDefault, fallback) {
  if (!fallback) return undefined;
  const v = fallback.v;
  let m;
  if ((m = /^`([^`]*)`/.exec(docDefault))) {
    if (/^[A-Z][A-Z0-9_]*$/.test(m[1])) return undefined; // another variable's value
    return String(v) === m[1] ? undefined : `has ${JSON.stringify(v)}`;
  }
  if ((m = /^(-?\d+)\b/.exec(docDefault))) return String(v) === m[1] ? undefined : `has ${JSON.stringify(v)}`;
  if (/^(none|unset)\b/.test(docDefault)) return v === '' ? undefined : `has ${JSON.stringify(v)}`;
  return undefined;
}

const code = (v) => (typeof v === 'number' ? String(v) : `\`${v}\``);
const cell = (s) => s.replace(/\|/g, '\\|');

/** `${NAME:-default}` in the shell scripts and compose files: name → [{file, default}]. */
function fileVariables() {
  const vars = new Map();
  for (const f of FILES) {
    for (const m of read(f).matchAll(/\$\{([A-Z_][A-Z0-9_]*):-([^}]*)\}/g)) {
      const [, name, dflt] = m;
      const list = vars.get(name) ?? [];
      vars.set(name, list);
      if (!list.some((x) => x.file === f && x.dflt === dflt)) list.push({ file: f, dflt });
    }
  }
  return vars;
}

export function generate() {
  const unlisted = unlistedSources();
  if (unlisted.length) throw new Error(`configuration-doc: these files read options and are not in SOURCES (scripts/configuration-doc.mjs): ${unlisted.join(', ')}`);
  const opts = programOptions();
  const known = new Set(opts.map((o) => o.name));
  const files = fileVariables();
  const missing = [...files.keys()].filter((n) => !known.has(n) && !FILE_IGNORED.has(n) && !FILE_MEANINGS[n]);
  if (missing.length) throw new Error(`configuration-doc: say what these mean in FILE_MEANINGS (scripts/configuration-doc.mjs): ${missing.join(', ')}`);
  const stale = Object.keys(FILE_MEANINGS).filter((n) => !files.has(n));
  if (stale.length) throw new Error(`configuration-doc: no file reads these any more: ${stale.join(', ')} (drop them from FILE_MEANINGS)`);

  const out = [];
  out.push('# Configuration');
  out.push('');
  out.push('<!-- Generated by scripts/configuration-doc.mjs from the code (npm run docs:config); test/unit/configuration-doc.test.ts fails when this file differs. Do not edit by hand: edit the option\'s TSDoc or the script. -->');
  out.push('');
  out.push('Every setting is an environment variable. The defaults below are read from the code, and the');
  out.push(`TSDoc of each option is the reference this page is made from: ${SOURCES.map(([f]) => `\`${f}\``).join(', ')}.`);
  out.push('Empty counts as unset.');
  out.push('');
  out.push('Who reads what: `registrar` (beside the app, `dist/cjs/registrar/main.js`), `leasehold-run` (the');
  out.push('drop-in bundle\'s ENTRYPOINT, the registrar\'s variables), `agent` (the per-host agent: the');
  out.push('registrar\'s variables for what every registration shares, and its own), `renderer` (beside');
  out.push('HAProxy), `leasehold` (the CLI), `webapp` (the sample app).');
  out.push('');
  out.push('## The programs');
  out.push('');
  out.push('| variable | read by | default | meaning |');
  out.push('|---|---|---|---|');
  const byName = [...opts].sort((a, b) => a.name.localeCompare(b.name));
  for (const o of byName) {
    const base = o.defaults.filter((d) => !d.override);
    const distinct = [...new Set(base.map((d) => d.shown))];
    let dflt = distinct.length === 1 ? distinct[0] : distinct.length === 0 ? '—' : base.map((d) => `${d.shown} (${d.who.join(', ')})`).filter((x, i, a) => a.indexOf(x) === i).join('; ');
    for (const d of o.defaults.filter((x) => x.override)) dflt += ` (${d.who.join(', ')}: ${d.shown})`;
    const meaning = o.meaning + (o.range ? ` An integer from ${o.range}.` : '');
    out.push(`| \`${o.name}\` | ${o.readers.join(', ')} | ${cell(dflt)} | ${cell(meaning)} |`);
  }
  out.push('');
  out.push('## The images, scripts and compose files');
  out.push('');
  out.push('Read by the images\' shell scripts (`images/*/`), the compose and stack files, the Makefile');
  out.push('and `scripts/`, with the default each file gives. The etcd image also reads etcd\'s own `ETCD_*`');
  out.push('(TLS files, listen URLs: the image sets them), and its `etcdctl` uses `ETCDCTL_*` (root\'s certificate).');
  out.push('');
  out.push('| variable | default | where | meaning |');
  out.push('|---|---|---|---|');
  for (const name of [...files.keys()].filter((n) => FILE_MEANINGS[n]).sort()) {
    const uses = files.get(name);
    const distinct = [...new Set(uses.map((u) => u.dflt))];
    const dflt = distinct.map((d) => (d === '' ? 'none' : `\`${d}\``) + (distinct.length > 1 ? ` (${uses.filter((u) => u.dflt === d).map((u) => u.file).join(', ')})` : '')).join('; ');
    out.push(`| \`${name}\` | ${cell(dflt)} | ${uses.map((u) => u.file).filter((f, i, a) => a.indexOf(f) === i).join(', ')} | ${cell(FILE_MEANINGS[name])} |`);
  }
  out.push('');
  out.push('## Passed on by the compose and stack files');
  out.push('');
  out.push('These files hand the programs some of their variables from your environment, with defaults of');
  out.push('their own where they differ from the programs\' or matter to the stack:');
  out.push('');
  out.push('| variable | default there |');
  out.push('|---|---|');
  for (const name of [...files.keys()].filter((n) => known.has(n)).sort()) {
    const uses = files.get(name).filter((x) => /\.yml$/.test(x.file));
    if (!uses.length) continue;
    const distinct = [...new Set(uses.map((u) => u.dflt))];
    out.push(`| \`${name}\` | ${cell(distinct.map((d) => `${d === '' ? 'none' : `\`${d}\``} (${uses.filter((u) => u.dflt === d).map((u) => u.file).join(', ')})`).join('; '))} |`);
  }
  out.push('');
  out.push('The compose and stack files set more for their services (`ETCD_ENDPOINTS=https://etcd:2379`, the');
  out.push('credentials\' files, `ALLOWED_NETWORKS` in Swarm, ...): read them there.');
  out.push('');
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const page = generate();
  const mode = process.argv[2];
  if (mode === '--write') {
    writeFileSync(join(ROOT, DOC), page);
    console.log(`wrote ${DOC}`);
  } else if (mode === '--check') {
    if (read(DOC) !== page) {
      console.error(`${DOC} differs from the code: run npm run docs:config`);
      process.exit(1);
    }
  } else {
    process.stdout.write(page);
  }
}
