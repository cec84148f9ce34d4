import { LeaseholdError } from '../common/errors.js';

/** Errors marked retryable (etcd unavailable, lease gone or refused) are worth another try soon. */
export function isRetryable(err: unknown): boolean {
  return err instanceof LeaseholdError && err.retryable;
}

export interface BackoffOptions {
  /** First delay, ms. Default 200. */
  minMs?: number;
  /** Largest delay, ms; also the delay after an error that is not retryable. Default 5000. */
  maxMs?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Source of jitter in [0, 1). Default Math.random. */
  random?: () => number;
}

/**
 * Exponential backoff with jitter (each delay is drawn from [d/2, d)), so that registrars
 * that lost etcd together do not come back in lockstep. An error that is not retryable
 * (refused by etcd, or a bug) waits the longest delay at once: trying sooner changes nothing.
 */
export class Backoff {
  private failures = 0;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(o: BackoffOptions = {}) {
    this.minMs = o.minMs ?? 200;
    this.maxMs = o.maxMs ?? 5000;
    this.factor = o.factor ?? 2;
    this.random = o.random ?? Math.random;
  }

  /** Failed attempts since the last reset. */
  get attempts(): number {
    return this.failures;
  }

  /** The delay before the next attempt, after one that failed with `err`. */
  next(err: unknown): number {
    const d = isRetryable(err) ? Math.min(this.maxMs, this.minMs * this.factor ** this.failures) : this.maxMs;
    this.failures++;
    return Math.round(d / 2 + (this.random() * d) / 2);
  }

  reset(): void {
    this.failures = 0;
  }
}
