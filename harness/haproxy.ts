import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Haproxy } from '../renderer/haproxy.js';
import { requireBinary } from './bins.js';
import { type ServerRow, statsServers } from './http.js';
import { freePort } from './ports.js';
import { Proc } from './process.js';
import { waitFor } from './wait.js';

/** A real HAProxy in master-worker mode on free ports, started on a 503-only bootstrap config. */
export class TestHaproxy {
  proc?: Proc;
  readonly control: Haproxy;

  private constructor(
    readonly dir: string,
    readonly frontPort: number,
    readonly statsPort: number,
  ) {
    this.control = new Haproxy({ bin: 'haproxy', masterSocket: this.masterSocket, reloadTimeoutMs: 10000 });
  }

  get configPath(): string {
    return join(this.dir, 'haproxy.cfg');
  }
  get masterSocket(): string {
    return join(this.dir, 'master.sock');
  }
  get adminSocket(): string {
    return join(this.dir, 'admin.sock');
  }
  get url(): string {
    return `http://127.0.0.1:${this.frontPort}`;
  }
  get statsUrl(): string {
    return `http://127.0.0.1:${this.statsPort}`;
  }

  /** `env`: HAProxy's environment (STATS_PASSWORD puts the stats frontend behind a password). */
  static async start(env: Record<string, string> = {}): Promise<TestHaproxy> {
    requireBinary('haproxy', 'haproxy');
    const h = new TestHaproxy(mkdtempSync(join(tmpdir(), 'leasehold-haproxy-')), await freePort(), await freePort());
    writeFileSync(
      h.configPath,
      ['global', '  master-worker', `  stats socket ${h.adminSocket} mode 600 level admin expose-fd listeners`, 'defaults', '  mode http', '  timeout connect 1s', '  timeout client 5s', '  timeout server 5s',
        'frontend boot', `  bind 127.0.0.1:${h.frontPort}`, '  http-request return status 503', ''].join('\n'),
    );
    h.proc = new Proc('haproxy', 'haproxy', ['-W', '-db', '-S', h.masterSocket, '-f', h.configPath], env);
    await waitFor(() => h.control.showProc(), 'haproxy master CLI', 10000);
    return h;
  }

  /** Renderer environment pointing at this HAProxy. */
  rendererEnv(): Record<string, string> {
    return {
      HAPROXY_CONFIG: this.configPath,
      HAPROXY_MASTER_SOCKET: this.masterSocket,
      HAPROXY_ADMIN_SOCKET: this.adminSocket,
      HAPROXY_STATE_FILE: join(this.dir, 'server-state'),
      FRONTEND_BIND: `127.0.0.1:${this.frontPort}`,
      STATS_BIND: `127.0.0.1:${this.statsPort}`,
    };
  }

  /** Server rows of the stats CSV: backend, server, status. */
  servers(): Promise<ServerRow[]> {
    return statsServers(this.statsUrl);
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** `haproxy -c` on a file; returns HAProxy's output, throws on refusal. */
export function haproxyCheck(path: string): string {
  return execFileSync('haproxy', ['-c', '-f', path], { encoding: 'utf8', stdio: 'pipe' });
}
