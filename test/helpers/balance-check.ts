// Does `balance <algorithm>` send requests to every server of a pool this big? HAProxy's manual
// says roundrobin is limited by design to 4,095 active servers per backend. A self-contained
// script (Node's own modules only) so it runs on the host's HAProxy and, as text, inside an
// image with another version: `node balance-check.js <servers> [algorithm] [rounds]`. The
// servers start `disabled`, as leasehold's slots do, and go in rotation through the runtime API
// (`state ready`), or with `enabled` are in rotation from the config; weights 1, 2 and 3 in turn. All of them point at one local responder: HAProxy
// balances servers, not addresses. Prints one JSON line.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [servers, algorithm, rounds] = [Number(process.argv[2] ?? 10000), process.argv[3] ?? 'roundrobin', Number(process.argv[4] ?? 2)];
/** `enabled`: servers in rotation from the config (as after a reload that carried their state), not put there at runtime. */
const enabled = process.argv[5] === 'enabled';
const BASE = 31000 + (process.pid % 1000) * 2;
const weight = (i: number) => 1 + (i % 3);

function admin(socket: string, commands: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = connect(socket);
    let out = '';
    c.on('data', (d) => (out += d));
    c.on('end', () => resolve(out));
    c.on('error', reject);
    c.end(`${commands.join(';')}\n`);
  });
}

function get(agent: Agent): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: BASE, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'balance-'));
  const socket = join(dir, 'admin.sock');
  const lines = Array.from({ length: servers }, (_, i) => `    server s${i + 1} 127.0.0.1:${BASE + 1} weight ${weight(i)}${enabled ? '' : ' disabled'}`);
  writeFileSync(
    join(dir, 'haproxy.cfg'),
    [
      'global',
      `    stats socket ${socket} mode 600 level admin`,
      '    maxconn 256',
      'defaults',
      '    mode http',
      '    timeout connect 2s',
      '    timeout client 10s',
      '    timeout server 10s',
      'frontend lb',
      `    bind 127.0.0.1:${BASE}`,
      '    default_backend pool',
      'frontend responder',
      `    bind 127.0.0.1:${BASE + 1}`,
      '    http-request return status 200 content-type text/plain string ok',
      'backend pool',
      `    balance ${algorithm}`,
      ...lines,
      '',
    ].join('\n'),
  );
  const ha = spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  ha.stderr!.on('data', (d) => (stderr += d));
  try {
    for (let i = 0; ; i++) {
      if ((await admin(socket, ['show info']).catch(() => '')).includes('Version:')) break;
      if (i > 300 || ha.exitCode !== null) throw new Error(`haproxy did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const version = /^Version: (\S+)/m.exec(await admin(socket, ['show info']))?.[1];
    if (!enabled) for (let i = 0; i < servers; i += 200) await admin(socket, Array.from({ length: Math.min(200, servers - i) }, (_, k) => `set server pool/s${i + k + 1} state ready`));
    const total = rounds * Array.from({ length: servers }, (_, i) => weight(i)).reduce((a, b) => a + b, 0);
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    let sent = 0;
    let failed = 0;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (sent < total) {
          sent++;
          await get(agent).catch(() => failed++);
        }
      }),
    );
    agent.destroy();
    const hits = new Map<number, number>();
    const csv = await admin(socket, ['show stat pool 4 -1']);
    const header = csv.split('\n')[0]!.replace(/^# /, '').split(',');
    const [sv, stot] = [header.indexOf('svname'), header.indexOf('stot')];
    for (const l of csv.split('\n').slice(1)) {
      const f = l.split(',');
      if (/^s\d+$/.test(f[sv] ?? '')) hits.set(Number(f[sv]!.slice(1)) - 1, Number(f[stot]));
    }
    const reached = [...hits.values()].filter((n) => n > 0).length;
    const byWeight = [1, 2, 3].map((w) => {
      const of = [...hits].filter(([i]) => weight(i) === w).map(([, n]) => n);
      return of.reduce((a, b) => a + b, 0) / Math.max(1, of.length);
    });
    const lastUnreached = [...hits].filter(([, n]) => n === 0).map(([i]) => i + 1).slice(-5);
    console.log(JSON.stringify({ version, algorithm, servers, enabled, requests: total, failed, reached, meanHitsByWeight: byWeight, lastUnreached, last: hits.get(servers - 1) ?? 0 }));
  } finally {
    ha.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
