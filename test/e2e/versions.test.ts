import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import test from 'ava';
import { buildImages, docker, image } from '../../harness/compose.js';

// The images run Debian 13's packages: HAProxy 3.0, etcd 3.5, Node.js 20. The host keeps
// Debian 12's HAProxy 2.6 and etcd 3.4 for the integration suite; these are what users run.

test.before(() => buildImages());

/** Runs `cmd` in a fresh container of the image and returns what it printed. */
async function output(name: Parameters<typeof image>[0], cmd: string[]): Promise<string> {
  const c = await docker.createContainer({
    Image: image(name),
    Cmd: cmd,
    Tty: true, // one plain stream, no multiplexing headers
    Labels: { 'leasehold.test-run': `versions-${process.pid}` },
  });
  try {
    await c.start();
    const { StatusCode } = await c.wait();
    const out = (await c.logs({ stdout: true, stderr: true })).toString().replace(/\r/g, '');
    if (StatusCode !== 0) throw new Error(`${cmd.join(' ')} in ${image(name)} exited ${StatusCode}: ${out}`);
    return out;
  } finally {
    await c.remove({ force: true, v: true }); // v: the etcd image's anonymous data volume too
  }
}

/** The first `major.minor[.patch]` after `label` in `text`, as numbers. */
function version(text: string, label: RegExp): number[] {
  const m = new RegExp(`${label.source}\\s*v?(\\d+)\\.(\\d+)(?:\\.(\\d+))?`).exec(text);
  if (!m) throw new Error(`no version after ${label} in: ${text.slice(0, 300)}`);
  return m.slice(1).map((n) => Number(n ?? 0));
}

function atLeast(have: number[], want: number[]): boolean {
  for (let i = 0; i < want.length; i++) {
    if ((have[i] ?? 0) !== want[i]) return (have[i] ?? 0) > want[i]!;
  }
  return true;
}

const checks: { name: Parameters<typeof image>[0]; cmd: string[]; label: RegExp; min: number[] }[] = [
  { name: 'ha', cmd: ['haproxy', '-v'], label: /HAProxy version/, min: [3, 0] },
  { name: 'ha', cmd: ['node', '--version'], label: /^/, min: [20, 0] },
  { name: 'etcd', cmd: ['etcd', '--version'], label: /etcd Version:/, min: [3, 5] },
  { name: 'etcd', cmd: ['etcdctl', 'version'], label: /etcdctl version:/, min: [3, 5] },
  { name: 'webapp', cmd: ['node', '--version'], label: /^/, min: [20, 0] },
];

for (const c of checks) {
  test(`${c.name}: ${c.cmd.join(' ')} >= ${c.min.join('.')}`, async (t) => {
    const v = version(await output(c.name, c.cmd), c.label);
    t.log(`${image(c.name)}: ${c.cmd[0]} ${v.join('.')}`);
    t.true(atLeast(v, c.min), `${c.cmd[0]} ${v.join('.')} in ${image(c.name)}, want >= ${c.min.join('.')}`);
  });
}

test('etcd image: lease checkpointing is on (remaining TTLs survive a leader change or a restart)', async (t) => {
  const env = (await docker.getImage(image('etcd')).inspect()).Config.Env ?? [];
  t.true(env.includes('ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT=true'));
  t.true(env.includes('ETCD_EXPERIMENTAL_ENABLE_LEASE_CHECKPOINT_PERSIST=true'));
});

// HAProxy's manual says roundrobin is limited by design to 4,095 active servers per backend, and
// leasehold's pools grow to 16,384 slots. Tried on both versions users run, the way slots come
// into rotation (disabled in the config, `state ready` at runtime) and after a reload that
// carried their state (in rotation from the config): every server gets requests, by its weight.
const BALANCE_CHECK = fileURLToPath(new URL('../helpers/balance-check.js', import.meta.url));

async function balanceInImage(args: string[]): Promise<string> {
  const c = await docker.createContainer({
    Image: image('ha'),
    Entrypoint: ['node'],
    Cmd: ['/tmp/balance-check.mjs', ...args],
    Tty: true,
    HostConfig: { Binds: [`${BALANCE_CHECK}:/tmp/balance-check.mjs:ro`], NetworkMode: 'none' },
    Labels: { 'leasehold.test-run': `versions-${process.pid}` },
  });
  try {
    await c.start();
    await c.wait();
    const logs: unknown = await c.logs({ stdout: true, stderr: true });
    // dockerode parses a reply that is JSON as a whole: our one line comes back as an object.
    return Buffer.isBuffer(logs) ? logs.toString() : JSON.stringify(logs);
  } finally {
    await c.remove({ force: true });
  }
}

for (const how of ['ready', 'enabled']) {
  test(`roundrobin at 10,000 servers (${how === 'ready' ? 'put in rotation at runtime' : 'in rotation from the config'}): every server gets requests, by weight, on HAProxy 2.6 (host) and 3.0 (image)`, async (t) => {
    const args = ['10000', 'roundrobin', '2', how];
    const host = (await promisify(execFile)('node', [BALANCE_CHECK, ...args], { timeout: 120000 })).stdout;
    for (const out of [host, await balanceInImage(args)]) {
      const r = JSON.parse(out.trim().split('\n').pop()!) as { version: string; reached: number; failed: number; last: number; meanHitsByWeight: number[] };
      t.log(`HAProxy ${r.version}: ${r.reached} of 10,000 reached, ${r.failed} failed, mean requests by weight 1/2/3: ${r.meanHitsByWeight.join('/')}`);
      t.is(r.failed, 0);
      t.is(r.reached, 10000, `HAProxy ${r.version}`);
      t.true(r.last > 0, 'the last slot too');
      // Weights 1, 2, 3: requests in proportion (within a tenth).
      t.true(Math.abs(r.meanHitsByWeight[2]! / r.meanHitsByWeight[0]! - 3) < 0.3, `by weight: ${r.meanHitsByWeight.join('/')}`);
    }
  });
}
