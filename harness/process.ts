import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from './wait.js';

/** Root of the compiled tree (dist/). */
export const DIST = fileURLToPath(new URL('../', import.meta.url));

const live = new Set<ChildProcess>();
// A test worker that dies (an uncaught exception) skips its teardowns: take the children along.
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** A child process whose output lines are kept, JSON-parsed where possible. */
export class Proc {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  private exitCode?: number | null;
  readonly exited: Promise<number | null>;

  constructor(readonly name: string, cmd: string, args: string[], env: Record<string, string> = {}) {
    this.child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    };
    this.child.stdout!.on('data', onData);
    this.child.stderr!.on('data', onData);
    live.add(this.child);
    this.exited = new Promise((resolve) =>
      this.child.on('exit', (code) => {
        live.delete(this.child);
        resolve((this.exitCode = code));
      }),
    );
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Log lines parsed as JSON (non-JSON lines skipped). */
  events(): Record<string, any>[] {
    return this.lines.flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [];
      }
    });
  }

  waitForEvent(pred: (e: Record<string, any>) => boolean, what: string, timeoutMs = 10000): Promise<Record<string, any>> {
    return waitFor(() => this.events().find(pred), `${this.name}: ${what}`, timeoutMs, 20);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child.kill(sig);
  }

  async stop(timeoutMs = 5000): Promise<void> {
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** The registrar's entry point as the images run it: the bundle's script (scripts/bundle-registrar.mjs). */
export const REGISTRAR_MAIN = 'leasehold/bin/leasehold-registrar';

/** Runs one of leasehold's compiled entry points with node. */
export function node(name: string, entry: string, env: Record<string, string>): Proc {
  return new Proc(name, process.execPath, [`${DIST}${entry}`], env);
}
