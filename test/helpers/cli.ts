import { execFile } from 'node:child_process';
import { DIST, Proc } from '../../harness/process.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the compiled `leasehold` with `args`, stdout a pipe (plain output), the given environment on top of ours. */
export function leasehold(args: string[], env: Record<string, string> = {}, timeoutMs = 30000): Promise<CliResult> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [`${DIST}cli/main.js`, ...args], { env: { ...process.env, NO_COLOR: '', ...env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

/** `leasehold <args>` left running (watch): its output lines are kept. */
export function leaseholdProc(args: string[], env: Record<string, string> = {}): Proc {
  return new Proc('leasehold', process.execPath, [`${DIST}cli/main.js`, ...args], env);
}
