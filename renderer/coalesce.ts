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
 * or `maxMs` after its first trigger, whichever is first. With `leading`, a trigger after a quiet
 * time of `minMs` since the last flush fires at once (on the next turn of the event loop, with
 * whatever else that turn brings): a lone change waits for nothing, a burst still makes two flushes.
 */
export class Coalescer {
  private quiet: unknown;
  private deadline: unknown;
  /** Set for `minMs` after a flush: triggers then are a burst, coalesced. */
  private cooling: unknown;

  constructor(
    private minMs: number,
    private maxMs: number,
    private readonly flush: () => void,
    private readonly timers: Timers = realTimers,
    private readonly leading = false,
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
    if (this.leading && this.deadline === undefined && this.cooling === undefined) {
      this.deadline = this.timers.setTimeout(() => this.fire(), 0);
      this.quiet = undefined;
      return;
    }
    // A leading flush already due takes this trigger with it.
    if (this.leading && this.deadline !== undefined && this.quiet === undefined) return;
    if (this.quiet !== undefined) this.timers.clearTimeout(this.quiet);
    this.quiet = this.timers.setTimeout(() => this.fire(), this.minMs);
    this.deadline ??= this.timers.setTimeout(() => this.fire(), this.maxMs);
  }

  cancel(): void {
    if (this.quiet !== undefined) this.timers.clearTimeout(this.quiet);
    if (this.deadline !== undefined) this.timers.clearTimeout(this.deadline);
    if (this.cooling !== undefined) this.timers.clearTimeout(this.cooling);
    this.quiet = this.deadline = this.cooling = undefined;
  }

  private fire(): void {
    this.cancel();
    if (this.leading) this.cooling = this.timers.setTimeout(() => (this.cooling = undefined), this.minMs);
    this.flush();
  }
}
