import type { Etcd3 } from 'etcd3';
import type { CliOptions } from './args.js';
import type { Look } from './format.js';
import type { RendererTls } from './renderers.js';
import type { CliStore } from './store.js';

/**
 * What a subcommand gets from main.ts: options read once from the environment, etcd (made on
 * first use), the clocks, output, and the signal that an interrupt (Ctrl-C) raises. Tests pass
 * their own.
 */
export interface Context {
  options: CliOptions;
  etcd(): Etcd3;
  store(): CliStore;
  look: Look;
  /** A line (or lines) for stdout. */
  out(text: string): void;
  /** A line (or lines) for stderr: progress, notes, errors. */
  err(text: string): void;
  /** Milliseconds since the epoch: the times people read (a drain's `at`, an event's time, a record's age). */
  now(): number;
  /** Credentials for `https://` renderers (LEASEHOLD_RENDERER_*), read once. */
  rendererTls?: RendererTls;
  /** Milliseconds on a clock that never steps: waits and timeouts (`drain --wait`). */
  monotonic(): number;
  /** Aborted on SIGINT: `watch` ends (exit 0), `drain --wait` stops. */
  interrupted: AbortSignal;
}

/** Waits `ms`, or less if `signal` is aborted meanwhile. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
