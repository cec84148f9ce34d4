#!/usr/bin/env node
// Issue 19, "bring your own app": what the registrar costs in an image whose app is not Node,
// where every page of its runtime is its own. Each runtime is laid out in a root file system of
// its own by bench/registrar-runtime-setup.sh (DIR, default /tmp/lh-rt); each run chroots the
// registrar into one, inside a fresh memory cgroup (v1 or v2, made under this process's own),
// after dropping that root's files from the page cache, so that the cgroup is charged as a
// container's would be for the registrar's own files (its runtime, libraries and scripts). The
// app (a node:http server answering 200, or busybox httpd for go-run) and etcd run outside it.
// Per run, after the record is in etcd and BENCH_HOLD_MS more of keepalives:
// - join ms: spawned → record visible in etcd (polled every 2 ms through the JSON gateway);
// - RSS, PSS, USS (Private_Clean + Private_Dirty) and Anonymous from /proc/PID/smaps_rollup;
// - file-backed Rss from /proc/PID/smaps, split into glibc (libc, ld.so, libm, libpthread, libdl,
//   librt: an app built on glibc maps them too) and the rest (the registrar's own);
// - the cgroup's charge: usage, and its rss (anon) and cache parts (memory.stat);
// - leave ms: SIGTERM → process gone, and whether the record was gone from etcd by then.
// Needs root (chroot, cgroups). Env: BENCH_REPS (3), BENCH_HOLD_MS (12000), BENCH_ONLY (comma-
// separated variant names, or prefixes ending in *), BENCH_RT_DIR (/tmp/lh-rt), BENCH_TLS=1 (etcd
// // on https with a CA made by openssl for the run, each registrar given it as ETCD_CA), BENCH_WARM=1
// (the root's files read into the page cache before each run instead of dropped from it).
// Writes bench/results/registrar-runtime.json.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const REPS = Number(process.env.BENCH_REPS ?? 3);
const HOLD_MS = Number(process.env.BENCH_HOLD_MS ?? 12000);
const DIR = process.env.BENCH_RT_DIR ?? '/tmp/lh-rt';
const ROOTS = join(DIR, 'roots');
const ONLY = process.env.BENCH_ONLY?.split(',');
/** etcd on https, its CA given to each registrar as ETCD_CA (a copy in its root, /etc/lh-etcd-ca.pem). */
const TLS = process.env.BENCH_TLS === '1';
let caPem;
/** Leave the roots' files in the page cache (a container started from an image already in use on the host): the join is then warm, and the cgroup is charged little page cache. */
const WARM = process.env.BENCH_WARM === '1';
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

/** Node flag sets; `NAME=value` items are environment variables. */
const FLAG_SETS = {
  none: [],
  semi1: ['--max-semi-space-size=1'],
  'lite+semi1': ['--lite-mode', '--max-semi-space-size=1'],
  'jitless+semi1+old16': ['--jitless', '--max-semi-space-size=1', '--max-old-space-size=16'],
  min: ['--lite-mode', '--max-semi-space-size=1', '--max-old-space-size=16', '--v8-pool-size=1', 'UV_THREADPOOL_SIZE=1', 'MALLOC_ARENA_MAX=1'],
};
const isEnv = (f) => /^[A-Z_]+=/.test(f);

function variants() {
  const v = [];
  const nodeRoots = existsSync(ROOTS) ? readdirSync(ROOTS).filter((r) => /^(debian|official)-/.test(r)) : [];
  for (const root of nodeRoots) {
    for (const [name, flags] of Object.entries(FLAG_SETS)) {
      v.push({ name: `${root} ${name}`, root, cmd: ['/usr/bin/node', ...flags.filter((f) => !isEnv(f)), '/opt/leasehold/cjs/registrar/main.js'], env: envOf(flags), disk: [root] });
    }
  }
  for (const root of existsSync(ROOTS) ? readdirSync(ROOTS).filter((r) => r.startsWith('sea-')) : []) {
    // A single executable takes no Node flags on its command line; NODE_OPTIONS refuses --lite-mode.
    v.push({ name: `${root} none`, root, cmd: ['/opt/leasehold/bin/registrar'], env: {}, disk: [root] });
    v.push({ name: `${root} semi1+old16`, root, cmd: ['/opt/leasehold/bin/registrar'], env: { NODE_OPTIONS: '--max-semi-space-size=1 --max-old-space-size=16' }, disk: [root] });
  }
  if (existsSync(join(ROOTS, 'go'))) v.push({ name: 'go', root: 'go', cmd: ['/opt/leasehold/bin/registrar'], env: {}, disk: ['go'] });
  if (existsSync(join(ROOTS, 'go-run'))) {
    v.push({ name: 'go-run (leasehold-run + busybox httpd)', root: 'go-run', supervise: true, cmd: ['/opt/leasehold/bin/registrar', '--', '/bin/busybox', 'httpd', '-f', '-h', '/www'], env: {}, disk: ['go'] });
  }
  return ONLY ? v.filter((x) => ONLY.some((o) => (o.endsWith('*') ? x.name.startsWith(o.slice(0, -1)) : x.name === o))) : v;
}

function envOf(flags) {
  return Object.fromEntries(flags.filter(isEnv).map((f) => f.split('=', 2)));
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** One POST to etcd's JSON gateway. */
function gateway(endpoint, path, body) {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const request = endpoint.startsWith('https:') ? httpsRequest : httpRequest;
    const req = request(`${endpoint}${path}`, { method: 'POST', ...(caPem ? { ca: caPem } : {}), headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }, timeout: 2000 }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c) => (text += c)).on('end', () => {
        try {
          resolve(JSON.parse(text));
        } catch (err) {
          reject(err);
        }
      });
    });
    req.on('error', reject).on('timeout', () => req.destroy(new Error('timeout')));
    req.end(payload);
  });
}
const b64 = (s) => Buffer.from(s).toString('base64');
const hasKey = async (endpoint, key) => ((await gateway(endpoint, '/v3/kv/range', { key: b64(key) })).kvs ?? []).length > 0;

async function startEtcd() {
  const [client, peer] = [await freePort(), await freePort()];
  const dataDir = join(tmpdir(), `lh-rt-etcd-${process.pid}`);
  const url = `${TLS ? 'https' : 'http'}://127.0.0.1:${client}`;
  const tlsFlags = [];
  if (TLS) {
    // A CA and a server certificate for 127.0.0.1 (ECDSA P-256), made with openssl for this run.
    const d = join(tmpdir(), `lh-rt-tls-${process.pid}`);
    mkdirSync(d, { recursive: true });
    const sh = (c) => execFileSync('sh', ['-c', c], { cwd: d, stdio: 'ignore' });
    sh('openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=lh-rt-ca');
    sh('openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1');
    sh('printf "subjectAltName=IP:127.0.0.1\n" > ext && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext');
    caPem = readFileSync(join(d, 'ca.pem'));
    tlsFlags.push('--cert-file', join(d, 'server.pem'), '--key-file', join(d, 'server.key'));
  }
  const proc = spawn('etcd', [...tlsFlags, '--name', 'bench', '--data-dir', dataDir, '--listen-client-urls', url, '--advertise-client-urls', url,
    '--listen-peer-urls', `http://127.0.0.1:${peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peer}`,
    '--initial-cluster', `bench=http://127.0.0.1:${peer}`, '--log-level', 'error'], { stdio: 'ignore' });
  for (let i = 0; i < 300; i++) {
    try {
      await hasKey(url, 'probe');
      return { url, stop: () => { proc.kill('SIGTERM'); execFileSync('rm', ['-rf', dataDir]); } };
    } catch {
      await sleep(50);
    }
  }
  proc.kill('SIGKILL');
  throw new Error('etcd did not answer');
}

/** The memory cgroup this process is in, and whether it is v1 (memory controller) or v2. */
function cgroupBase() {
  const lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n').map((l) => l.split(':'));
  const v1 = lines.find((l) => l[1].split(',').includes('memory'));
  if (v1 && existsSync('/sys/fs/cgroup/memory')) return { v1: true, dir: join('/sys/fs/cgroup/memory', v1[2]) };
  const v2 = lines.find((l) => l[0] === '0');
  const mnt = existsSync('/sys/fs/cgroup/cgroup.controllers') ? '/sys/fs/cgroup' : '/sys/fs/cgroup/unified';
  return { v1: false, dir: join(mnt, v2[2]) };
}

function cgroupFigures(cg) {
  const stat = Object.fromEntries(readFileSync(join(cg.path, 'memory.stat'), 'utf8').trim().split('\n').map((l) => l.split(' ')).map(([k, v]) => [k, Number(v)]));
  const usage = Number(readFileSync(join(cg.path, cg.v1 ? 'memory.usage_in_bytes' : 'memory.current'), 'utf8'));
  return cg.v1 ? { usage, anon: stat.rss, cache: stat.cache, mappedFile: stat.mapped_file } : { usage, anon: stat.anon, cache: stat.file, mappedFile: stat.file_mapped };
}

function allFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

/** Drops a root's files from the page cache (none is mapped by anyone: they are only ever used chrooted here). */
function evict(root) {
  const files = allFiles(root);
  for (let i = 0; i < files.length; i += 200) execFileSync('sh', ['-c', 'for f; do dd if="$f" iflag=nocache count=0 status=none; done', 'sh', ...files.slice(i, i + 200)]);
}

/** read_ahead_kb of the block device ROOTS is on: it sets how much of a mapped file a page fault reads into the page cache. */
function readAheadKb() {
  const dev = statSync(ROOTS).dev;
  const id = `${Math.floor(dev / 256) & 0xfff}:${(dev & 0xff) | ((dev >> 12) & 0xfff00)}`;
  for (const q of [`/sys/dev/block/${id}/queue/read_ahead_kb`, `/sys/dev/block/${id}/../queue/read_ahead_kb`]) {
    if (existsSync(q)) return Number(readFileSync(q, 'utf8'));
  }
  return undefined;
}

const diskBytes = (root) => allFiles(join(ROOTS, root)).reduce((s, f) => s + statSync(f).size, 0);

const GLIBC = /\/(libc\.so\.6|ld-linux-x86-64\.so\.2|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1)$/;

/** Memory figures of one process, kB → MB. */
function memory(pid) {
  const kb = (text, field) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  const r = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  let fileOwn = 0;
  let fileGlibc = 0;
  let path = '';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) path = head[1];
    else if (line.startsWith('Rss:') && path.startsWith('/')) {
      const v = Number(/(\d+)/.exec(line)[1]);
      if (GLIBC.test(path.replace(/ \(deleted\)$/, ''))) fileGlibc += v;
      else fileOwn += v;
    }
  }
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return {
    rssMb: kb(r, 'Rss') / 1024,
    pssMb: kb(r, 'Pss') / 1024,
    ussMb: (kb(r, 'Private_Clean') + kb(r, 'Private_Dirty')) / 1024,
    anonMb: kb(r, 'Anonymous') / 1024,
    fileOwnMb: fileOwn / 1024,
    fileGlibcMb: fileGlibc / 1024,
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)[1]),
  };
}

/** An app answering 200 on every path. */
async function nodeApp() {
  const port = await freePort();
  const server = createServer((_req, res) => res.writeHead(200).end('ok')).listen(port, '127.0.0.1');
  return { port, close: () => new Promise((r) => server.close(() => r())) };
}

async function once(etcd, base, v, rep) {
  const id = `rt-${rep}-${process.pid}`;
  const key = `/nodes/webapp/${id}`;
  const app = v.supervise ? { port: await freePort(), close: async () => {} } : await nodeApp();
  const cmd = v.supervise ? [...v.cmd.slice(0, -2), '-p', `127.0.0.1:${app.port}`, ...v.cmd.slice(-2)] : v.cmd;
  if (caPem) writeFileSync(join(ROOTS, v.root, 'etc/lh-etcd-ca.pem'), caPem);
  const env = { PATH: '/usr/bin:/bin', ETCD_ENDPOINTS: etcd.url, ...(caPem ? { ETCD_CA: '/etc/lh-etcd-ca.pem' } : {}), PORT: String(app.port), NODE_ID: id, ADVERTISE_ADDRESS: '127.0.0.1', REGISTRAR_HEALTH_PORT: '0', LEASE_TTL: '2', ...v.env };
  const cg = { v1: base.v1, path: join(base.dir, `lh-rt-${process.pid}-${rep}`) };
  mkdirSync(cg.path);
  if (!base.v1) writeFileSync(join(base.dir, 'cgroup.subtree_control'), '+memory');
  if (WARM) execFileSync('sh', ['-c', 'cat "$@" > /dev/null', 'sh', ...allFiles(join(ROOTS, v.root))]);
  else evict(join(ROOTS, v.root));
  const t0 = performance.now();
  const child = spawn('/bin/sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec /usr/sbin/chroot "$@"', cg.path, join(ROOTS, v.root), ...cmd], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c) => (stderr = (stderr + c).slice(-2000)));
  let exited = false;
  const gone = new Promise((resolve) => child.on('exit', () => resolve((exited = true))));
  try {
    let joinMs;
    for (const deadline = t0 + 10000; performance.now() < deadline && !exited; await sleep(2)) {
      if (await hasKey(etcd.url, key)) {
        joinMs = performance.now() - t0;
        break;
      }
    }
    if (joinMs === undefined) throw new Error(`${v.name}: no record in etcd (exited: ${exited}) ${stderr}`);
    await sleep(HOLD_MS);
    if (exited) throw new Error(`${v.name}: exited while held: ${stderr}`);
    const m = memory(child.pid);
    const c = cgroupFigures(cg);
    let appRssMb;
    if (v.supervise) {
      const kids = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
      appRssMb = kids.reduce((s, k) => s + memory(k).rssMb, 0);
    }
    const stillRegistered = await hasKey(etcd.url, key);
    const t1 = performance.now();
    child.kill('SIGTERM');
    await Promise.race([gone, sleep(5000)]);
    const leaveMs = performance.now() - t1;
    const revoked = !(await hasKey(etcd.url, key));
    return { joinMs, ...m, cgUsageMb: c.usage / 2 ** 20, cgAnonMb: c.anon / 2 ** 20, cgCacheMb: c.cache / 2 ** 20, cgMappedFileMb: c.mappedFile / 2 ** 20, stillRegistered, leaveMs, revoked, ...(appRssMb !== undefined ? { appRssMb } : {}) };
  } finally {
    if (!exited) child.kill('SIGKILL');
    await Promise.race([gone, sleep(2000)]);
    await app.close();
    // A v1 cgroup keeps charged page cache after its last task; force_empty reclaims it so rmdir can go.
    for (let i = 0; i < 20; i++) {
      try {
        if (base.v1) writeFileSync(join(cg.path, 'memory.force_empty'), '0');
        rmdirSync(cg.path);
        break;
      } catch {
        await sleep(100);
      }
    }
  }
}

const median = (xs) => {
  const v = xs.filter((x) => typeof x === 'number' && !Number.isNaN(x)).sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

async function main() {
  if (process.getuid() !== 0) throw new Error('needs root (chroot, cgroups)');
  const vs = variants();
  if (!vs.length) throw new Error(`no runtime roots in ${ROOTS}: run bash bench/registrar-runtime-setup.sh first`);
  const base = cgroupBase();
  const etcd = await startEtcd();
  const results = {};
  try {
    for (const v of vs) {
      const runs = [];
      for (let i = 0; i < REPS; i++) runs.push(await once(etcd, base, v, i));
      const med = Object.fromEntries(Object.keys(runs[0]).filter((k) => typeof runs[0][k] === 'number').map((k) => [k, median(runs.map((r) => r[k]))]));
      results[v.name] = { cmd: v.cmd, env: v.env, diskMb: diskBytes(v.root) / 2 ** 20, median: med, allRevoked: runs.every((r) => r.revoked), allRegistered: runs.every((r) => r.stillRegistered), runs };
      console.log(`${v.name}: ${JSON.stringify(runs.map((r) => [Math.round(r.joinMs), +r.rssMb.toFixed(1), +r.ussMb.toFixed(1), +r.cgUsageMb.toFixed(1)]))}`);
    }
  } finally {
    etcd.stop();
  }
  const f = (x) => (x === undefined ? '' : x.toFixed(1));
  const header = ['runtime flags', 'disk MB', 'join ms', 'RSS', 'PSS', 'USS', 'anon', 'file own', 'file glibc', 'thr', 'cg usage', 'cg anon', 'cg cache', 'leave ms', 'revoked'];
  const rows = Object.entries(results).map(([name, r]) => [name, f(r.diskMb), f(r.median.joinMs), f(r.median.rssMb), f(r.median.pssMb), f(r.median.ussMb), f(r.median.anonMb), f(r.median.fileOwnMb), f(r.median.fileGlibcMb), String(r.median.threads), f(r.median.cgUsageMb), f(r.median.cgAnonMb), f(r.median.cgCacheMb), f(r.median.leaveMs), r.allRevoked ? 'yes' : 'NO']);
  const width = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const ra = readAheadKb();
  console.log(`\nregistrar runtimes, each chrooted alone in a fresh memory cgroup, roots in ${ROOTS} (read_ahead_kb ${ra}${WARM ? ', page cache warm' : ', page cache dropped before each run'}), etcd on ${TLS ? 'https' : 'http'}://127.0.0.1, LEASE_TTL 2, held ${HOLD_MS} ms, medians of n = ${REPS}; memory in MB`);
  for (const r of [header, width.map((w) => '-'.repeat(w)), ...rows]) console.log(r.map((c, i) => (i ? c.padStart(width[i]) : c.padEnd(width[i]))).join('  '));
  mkdirSync(RESULTS, { recursive: true });
  const go = existsSync(join(ROOTS, 'go.version')) ? readFileSync(join(ROOTS, 'go.version'), 'utf8').trim() : undefined;
  const out = join(RESULTS, 'registrar-runtime.json');
  // One entry per read-ahead setting of the disk the roots were on; a BENCH_ONLY run adds to its entry.
  const all = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : {};
  const label = `read_ahead_kb ${ra}${TLS ? ', etcd over TLS' : ''}${WARM ? ', warm page cache' : ''}`;
  const prev = ONLY ? all.byReadAhead?.[label]?.results ?? {} : {};
  const entry = { date: new Date().toISOString(), roots: ROOTS, readAheadKb: ra, reps: REPS, holdMs: HOLD_MS, kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(), cgroup: base.v1 ? 'v1' : 'v2', go, flagSets: FLAG_SETS, results: { ...prev, ...results } };
  writeFileSync(out, JSON.stringify({ byReadAhead: { ...all.byReadAhead, [label]: entry } }, null, 2) + '\n');
  console.log(`\nwrote ${out}`);
}

await main();
