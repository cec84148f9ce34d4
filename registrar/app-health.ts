import { connect } from 'node:net';
import { httpStatus } from '../common/http.js';
import type { Clock } from './clock.js';

/** One health check of the app, as the registrar saw it. */
export interface CheckResult {
  passed: boolean;
  /** No answer within the check timeout: the app was told to give up (its signal aborted). */
  timedOut: boolean;
  /** From the check's start to its answer or its deadline, monotonic ms. */
  durationMs: number;
}

/**
 * Runs `check` under a deadline of `timeoutMs` on `clock`: an answer that has not come by then
 * counts as a failure, and `check`'s signal aborts so that it can stop waiting too. A check that
 * throws has failed. Never rejects.
 */
export async function checkWithDeadline(check: (signal: AbortSignal) => Promise<boolean>, clock: Clock, timeoutMs: number, signal: AbortSignal): Promise<CheckResult> {
  const started = clock.monotonic();
  const cut = new AbortController();
  const giveUp = () => cut.abort();
  signal.addEventListener('abort', giveUp, { once: true });
  const answered = new AbortController();
  const deadline = clock.sleep(timeoutMs, answered.signal).then(() => undefined);
  let answer: Promise<boolean>;
  try {
    answer = check(cut.signal).then((ok) => ok === true, () => false);
  } catch {
    answer = Promise.resolve(false);
  }
  const passed = await Promise.race([answer, deadline]);
  answered.abort();
  signal.removeEventListener('abort', giveUp);
  if (passed === undefined) cut.abort();
  return { passed: passed ?? false, timedOut: passed === undefined, durationMs: clock.monotonic() - started };
}

/** Resolves whether `host:port` accepts a TCP connection within `timeoutMs`. */
export function tcpOpen(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port, timeout: timeoutMs, signal });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('timeout', () => done(false));
    s.once('error', () => done(false));
  });
}

/**
 * The app check a health URL names: `http://…` passes on a 2xx answer; `tcp://host:port` when
 * the port accepts a connection (an app with no HTTP endpoint).
 */
export function appCheck(url: string, timeoutMs: number): (signal: AbortSignal) => Promise<boolean> {
  if (url.startsWith('tcp://')) {
    const u = new URL(url);
    const host = u.hostname.replace(/^\[|\]$/g, '');
    const port = Number(u.port);
    return (signal) => tcpOpen(host, port, timeoutMs, signal);
  }
  return async (signal) => {
    const status = await httpStatus(url, timeoutMs, signal);
    return status >= 200 && status < 300;
  };
}
