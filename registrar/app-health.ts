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
