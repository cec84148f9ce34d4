import { readFileSync } from 'node:fs';
import { ConfigCheckError, ReloadError, RuntimeError } from '../../common/errors.js';
import type { ProcInfo, ReloadResult } from '../../renderer/haproxy.js';
import { STRUCTURE_VAR } from '../../renderer/runtime-state.js';

interface Server {
  backend: string;
  name: string;
  address: string;
  port: number;
  admin: number;
  weight: number;
  sessions: number;
}

/**
 * HAProxy for pure unit tests of the renderer: it loads the server lines of the config it is
 * reloaded with, keeps a server table, answers the runtime commands the renderer sends, and
 * records them. Real HAProxy is in the integration tests; this one only keeps the books.
 */
export class FakeHaproxy {
  servers = new Map<string, Server>();
  structure?: string;
  workerPid = 100;
  reloads = 0;
  /** Every runtime command received, in order. */
  commands: string[] = [];
  failReload = false;
  down = false;
  /** A config that matches is refused by `check`. */
  refuse?: RegExp;
  /** An address that matches is refused by `set server … addr` (as HAProxy refuses `fe80::1%lo`). */
  refuseAddress?: RegExp;
  /** `show servers state` answered so far. */
  reads = 0;
  /** `show stat` answered so far. */
  statReads = 0;
  /** Servers whose check fails (`show stat` says DOWN, which hides a drain). */
  failingChecks = new Set<string>();
  private seenLate = new Set<string>();
  /**
   * As HAProxy ≥ 2.9: `set server … addr` answers at once and a task applies it later, here at the
   * next `show servers state` (the latest it could be).
   */
  lateAddresses = false;
  private pending = new Map<string, [string, number]>();
  /** `backend/server=address:port` as applied when each `state ready` or `state drain` came. */
  inRotationAt: string[] = [];

  constructor(private readonly configPath: string) {}

  /** `haproxy -c` runs so far. */
  checks = 0;

  async check(path: string): Promise<void> {
    this.checks++;
    const text = readFileSync(path, 'utf8');
    if (this.refuse?.test(text)) throw new ConfigCheckError(`haproxy -c refused the config: matches ${this.refuse}`, 'refused by the fake');
  }

  async showProc(): Promise<ProcInfo> {
    if (this.down) throw new ReloadError('master gone');
    return { masterPid: 1, reloads: this.reloads, failed: 0, workers: [{ pid: this.workerPid, reloads: 0 }] };
  }

  async reload(): Promise<ReloadResult> {
    if (this.failReload || this.down) throw new ReloadError('master CLI unreachable');
    this.load(readFileSync(this.configPath, 'utf8'));
    this.reloads++;
    this.workerPid++;
    return { reloads: this.reloads, workerPid: this.workerPid, durationMs: 1 };
  }

  /** Starts a worker on `text` (as a restart would). */
  load(text: string): void {
    const old = this.servers;
    this.servers = new Map();
    this.structure = new RegExp(`set-var ${STRUCTURE_VAR.replace('.', '\\.')} str\\((\\w+)\\)`).exec(text)?.[1];
    let backend = '';
    for (const line of text.split('\n')) {
      const b = /^backend (\S+)/.exec(line);
      if (b) backend = b[1]!;
      const s = /^\s+server (\S+) (\S+):(\d+) weight (\d+)( disabled)?/.exec(line);
      if (!s) continue;
      const address = s[2]!.replace(/^\[|\]$/g, '');
      this.servers.set(`${backend}/${s[1]}`, { backend, name: s[1]!, address, port: Number(s[3]), weight: Number(s[4]), admin: s[5] ? 5 : 0, sessions: old.get(`${backend}/${s[1]}`)?.sessions ?? 0 });
    }
  }

  /** The runtime channel. */
  async run(commands: string[]): Promise<string[]> {
    if (this.down) throw new RuntimeError('runtime API unreachable', { cause: Object.assign(new Error('gone'), { code: 'ECONNRESET' }) });
    return commands.map((c) => this.one(c));
  }

  private one(c: string): string {
    const state = /^show servers state( \S+)?$/.exec(c);
    if (state) {
      this.reads++;
      for (const [name, [address, port]] of this.pending) Object.assign(this.servers.get(name)!, { address, port });
      this.pending.clear();
      const lines = [...this.servers.values()].map((s, i) => `3 ${s.backend} ${i + 1} ${s.name} ${s.address} 2 ${s.admin} ${s.weight} ${s.weight} 0 0 0 0 0 0 0 0 - ${s.port} - 0 0 - - 0`);
      return ['1', '# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ...', ...lines.filter((l) => !state[1] || l.split(' ')[1] === state[1].trim())].join('\n');
    }
    if (c === `get var ${STRUCTURE_VAR}`) return this.structure ? `${STRUCTURE_VAR}: type=str value=<${this.structure}>` : 'Variable not found.';
    const stat = /^show stat (\S+) 4 (-1|\d+)$/.exec(c);
    if (stat) {
      this.statReads++;
      const list = [...this.servers.values()];
      const rows = list
        .filter((s, i) => s.backend === stat[1] && (stat[2] === '-1' || String(i + 1) === stat[2]))
        .map((s) => {
          // A late address shows at the second read after its command (HAProxy's task ran meanwhile).
          const late = this.pending.get(`${s.backend}/${s.name}`);
          if (late && !this.seenLate.delete(`${s.backend}/${s.name}`)) this.seenLate.add(`${s.backend}/${s.name}`);
          else if (late) (([s.address, s.port] = late), this.pending.delete(`${s.backend}/${s.name}`));
          const status = s.admin & 0x01 ? 'MAINT' : s.admin & 0x08 ? (this.failingChecks.has(`${s.backend}/${s.name}`) ? 'DOWN' : 'DRAIN') : this.failingChecks.has(`${s.backend}/${s.name}`) ? 'DOWN' : 'UP';
          return `${s.backend},${s.name},0,${s.sessions},${s.address.includes(':') ? `[${s.address}]` : s.address}:${s.port},${status},${s.weight}`;
        });
      return ['# pxname,svname,qcur,scur,addr,status,uweight', ...rows].join('\n');
    }
    this.commands.push(c);
    const m = /^set server (\S+) (addr (\S+) port (\d+)|weight (\d+)|state (ready|drain|maint))$/.exec(c);
    const s = m && this.servers.get(m[1]!);
    if (!s) return 'No such server.';
    if (m[6] === 'ready' || m[6] === 'drain') this.inRotationAt.push(`${m[1]}=${s.address}:${s.port}`);
    if (m[3]) {
      // HAProxy's own answers (2.6 and 3.0).
      if (this.refuseAddress?.test(m[3])) return `Invalid addr '${m[3]}' by 'stats socket command'`;
      const ip = s.address === m[3] ? 'no need to change the addr' : `IP changed from '${s.address}' to '${m[3]}'`;
      const port = s.port === Number(m[4]) ? 'no need to change the port' : `port changed from '${s.port}' to '${m[4]}'`;
      if (this.lateAddresses) this.pending.set(m[1]!, [m[3], Number(m[4])]);
      else [s.address, s.port] = [m[3], Number(m[4])];
      return `${ip}, ${port} by 'stats socket command'\n`;
    } else if (m[5]) s.weight = Number(m[5]);
    else if (m[6] === 'ready') s.admin &= ~0x19;
    else if (m[6] === 'drain') s.admin = (s.admin & ~0x01) | 0x08;
    else s.admin |= 0x01;
    return '';
  }

  /** Servers with a node in rotation (not in maintenance), as `backend/server=address:port`. */
  live(): string[] {
    return [...this.servers.values()].filter((s) => (s.admin & 0x01) === 0).map((s) => `${s.backend}/${s.name}=${s.address}:${s.port}${s.admin & 0x08 ? ' drain' : ''}`);
  }
}
