import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { ConfigCheckError, ReloadError } from '../common/errors.js';
import type { ReloadResult } from '../common/status.js';

export type { ReloadResult } from '../common/status.js';

export interface ProcInfo {
  masterPid: number;
  /** Reloads the master has done, and how many of those failed. */
  reloads: number;
  failed: number;
  /** Workers, newest first as HAProxy lists them; `reloads` 0 is the current one. */
  workers: { pid: number; reloads: number }[];
}

export interface HaproxyOptions {
  bin: string;
  masterSocket: string;
  /** How long a reload may take to show up in `show proc`, ms. */
  reloadTimeoutMs: number;
}

/** Parses the master CLI's `show proc`. */
export function parseShowProc(text: string): ProcInfo {
  const master = /^(\d+)\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]/m.exec(text);
  if (!master) throw new ReloadError(`unexpected "show proc" output: ${text.slice(0, 200)}`);
  const workers = [...text.matchAll(/^(\d+)\s+worker\s+(\d+)/gm)].map((m) => ({ pid: Number(m[1]), reloads: Number(m[2]) }));
  return { masterPid: Number(master[1]), reloads: Number(master[2]), failed: Number(master[3]), workers };
}

/** HAProxy in master-worker mode, driven through `haproxy -c` and its master CLI. */
export class Haproxy {
  constructor(private readonly o: HaproxyOptions) {}

  /** `haproxy -v`: the version, e.g. `2.6.12` (undefined if it cannot be run). */
  version(): Promise<string | undefined> {
    return new Promise((resolve) => {
      execFile(this.o.bin, ['-v'], { timeout: 10000 }, (err, stdout) => resolve(err ? undefined : /version (\d+\.\d+[^\s]*)/i.exec(stdout)?.[1]));
    });
  }

  /** `haproxy -c -f path`; throws ConfigCheckError with HAProxy's own words. */
  check(path: string): Promise<void> {
    return new Promise((resolve, reject) => {
      // Large configs warn once per server (a server-state line each): room for all of it.
      execFile(this.o.bin, ['-c', '-f', path], { timeout: 60000, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
        if (!err) return resolve();
        const output = `${stdout}${stderr}`.trim();
        const code = (err as NodeJS.ErrnoException).code;
        const alerts = output.split('\n').filter((l) => /ALERT|error/i.test(l));
        const why = code === 'ENOENT' ? `${this.o.bin} not found (install the haproxy package)` : alerts.slice(0, 5).join('; ') || output.slice(-500) || err.message;
        reject(new ConfigCheckError(`haproxy -c refused the config: ${why}`, (alerts.length ? alerts.join('\n') : output).slice(0, 8000)));
      });
    });
  }

  /**
   * Sends one command to the master CLI and returns the whole answer. While the master
   * re-executes for a reload its socket refuses for a moment: connecting is retried until
   * `timeoutMs`.
   */
  async command(cmd: string, timeoutMs = 2000): Promise<string> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        return await this.once(cmd, Math.max(100, deadline - performance.now()));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ECONNREFUSED' && code !== 'ENOENT') || performance.now() >= deadline) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  private once(cmd: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = connect(this.o.masterSocket);
      let out = '';
      sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`master CLI did not answer "${cmd}" in ${timeoutMs} ms`)));
      sock.on('connect', () => sock.end(`${cmd}\n`));
      sock.on('data', (d) => (out += d.toString()));
      sock.on('error', reject);
      sock.on('close', (hadError) => {
        if (!hadError) resolve(out);
      });
    });
  }

  async showProc(): Promise<ProcInfo> {
    return parseShowProc(await this.command('show proc'));
  }

  /**
   * Reloads and waits until `show proc` proves it: the master's reload count went up, no new
   * failure, and a fresh worker runs. While the master re-executes its socket may briefly refuse.
   */
  async reload(): Promise<ReloadResult> {
    const started = performance.now();
    const deadline = started + this.o.reloadTimeoutMs;
    let before: ProcInfo;
    try {
      before = await this.showProc();
    } catch (err) {
      throw new ReloadError(`master CLI at ${this.o.masterSocket} unreachable: ${(err as Error).message}`, { cause: err });
    }
    let answer: string;
    try {
      // HAProxy 3.0 answers when the new worker is ready (or failed); 2.6 closes at once.
      answer = await this.command('reload', this.o.reloadTimeoutMs);
    } catch (err) {
      throw new ReloadError(`reload command failed: ${(err as Error).message}`, { cause: err });
    }
    if (/^Success=0/m.test(answer)) {
      const alerts = answer.split('\n').filter((l) => /ALERT/.test(l)).slice(0, 5).join('; ');
      throw new ReloadError(`haproxy refused the reload: ${alerts || answer.slice(0, 500)}; the previous config keeps serving`);
    }
    const oldWorkers = new Set(before.workers.map((w) => w.pid));
    let last: unknown;
    while (performance.now() < deadline) {
      let now: ProcInfo | undefined;
      try {
        now = await this.showProc();
      } catch (err) {
        last = err;
      }
      if (now && now.reloads > before.reloads) {
        if (now.failed > before.failed) throw new ReloadError(`haproxy refused the reload (failed reloads ${before.failed} -> ${now.failed}); the previous config keeps serving`);
        const fresh = now.workers.find((w) => w.reloads === 0 && !oldWorkers.has(w.pid));
        if (fresh) return { reloads: now.reloads, workerPid: fresh.pid, durationMs: Math.round(performance.now() - started) };
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new ReloadError(`reload not confirmed by "show proc" within ${this.o.reloadTimeoutMs} ms`, { cause: last });
  }
}
