export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's own timers. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * Turns a burst of triggers into one flush: it fires `minMs` after the burst goes quiet,
 * or `maxMs` after its first trigger, whichever is first.
 */
export class Coalescer {
  private quiet: unknown;
  private deadline: unknown;

  constructor(
    private minMs: number,
    private maxMs: number,
    private readonly flush: () => void,
    private readonly timers: Timers = realTimers,
  ) {}

  /** Changes the quiet time (and the longest wait, 5 times it by default) for the next bursts. */
  setDelays(minMs: number, maxMs = minMs * 5): void {
    this.minMs = minMs;
    this.maxMs = maxMs;
  }

  get pending(): boolean {
    return this.deadline !== undefined;
  }

  trigger(): void {
    if (this.quiet !== undefined) this.timers.clearTimeout(this.quiet);
    this.quiet = this.timers.setTimeout(() => this.fire(), this.minMs);
    this.deadline ??= this.timers.setTimeout(() => this.fire(), this.maxMs);
  }

  cancel(): void {
    if (this.quiet !== undefined) this.timers.clearTimeout(this.quiet);
    if (this.deadline !== undefined) this.timers.clearTimeout(this.deadline);
    this.quiet = this.deadline = undefined;
  }

  private fire(): void {
    this.cancel();
    this.flush();
  }
}
