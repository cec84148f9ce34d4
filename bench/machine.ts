// What the machine was doing while a figure was taken: load average, a process's memory and CPU
// time, and what ran (versions, commit). Linux only (/proc).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';

/** Wall-clock ms with sub-ms precision, comparable with the daemons' log timestamps. */
export const clock = (): number => performance.timeOrigin + performance.now();

export interface LoadAverage {
  one: number;
  five: number;
  fifteen: number;
}

/** `/proc/loadavg`: on this 2-core machine, above ~1 means something else competed for the CPU. */
export function loadAverage(): LoadAverage {
  const [one, five, fifteen] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  return { one: one!, five: five!, fifteen: fifteen! };
}

/** Resident memory now and at its peak (VmHWM), MB. */
export function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rss: round(kb('VmRSS') / 1024), peak: round(kb('VmHWM') / 1024) };
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number): number {
  // Fields after the command name, which may hold spaces: utime and stime are the 12th and 13th.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // USER_HZ is 100 on Linux
}

const run = (cmd: string, args: string[]) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch {
    return undefined;
  }
};

/** The machine and software a run measured. */
export function machine(): Record<string, unknown> {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memGb: Math.round(totalmem() / 2 ** 30),
    kernel: run('uname', ['-r']),
    node: process.version,
    haproxy: run('haproxy', ['-v'])?.split('\n')[0],
    etcd: run('etcd', ['--version'])?.split('\n')[0],
    commit: run('git', ['rev-parse', '--short', 'HEAD']),
    // Uncommitted changes besides the results a run writes.
    dirty: Boolean(run('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results'])),
  };
}

export const round = (x: number, digits = 1): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** A process's `/proc/PID/smaps_rollup`, MB: resident, private (USS) and proportional (PSS). */
export function smapsRollupMb(text: string): { rssMb: number; privateMb: number; pssMb: number } {
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: round(kb('Rss') / 1024), privateMb: round((kb('Private_Clean') + kb('Private_Dirty')) / 1024), pssMb: round(kb('Pss') / 1024) };
}

/**
 * Tears a run's stack down exactly once: when the returned function is called, on SIGINT or
 * SIGTERM (then exits 130), or when the run exceeds `watchdogMs` (then exits 1).
 */
export function guardedTeardown(teardown: () => Promise<void>, watchdogMs: number): () => Promise<void> {
  let done: Promise<void> | undefined;
  const once = () => (done ??= teardown());
  const watchdog = setTimeout(() => {
    console.error(`watchdog: run exceeded ${watchdogMs / 60000} min`);
    void once().finally(() => process.exit(1));
  }, watchdogMs);
  watchdog.unref();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void once().finally(() => process.exit(130)));
  return () => {
    clearTimeout(watchdog);
    return once();
  };
}
