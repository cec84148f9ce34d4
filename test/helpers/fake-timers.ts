import type { Timers } from '../../renderer/coalesce.js';

/** A manual clock: timers fire only when the test advances time. */
export class FakeTimers implements Timers {
  now = 0;
  private next = 1;
  private readonly pending = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(h: unknown): void {
    this.pending.delete(h as number);
  }

  /** Timers not yet fired or cleared. */
  get size(): number {
    return this.pending.size;
  }

  /** Moves time forward by `ms`, firing due timers in deadline order. */
  advance(ms: number): void {
    const end = this.now + ms;
    while (this.fireNext(end));
    this.now = end;
  }

  /**
   * As `advance`, but lets the promise chains each timer starts run before the next fires,
   * as the event loop would: a timer set from a settled promise is dated from its own time.
   */
  async advanceSettled(ms: number): Promise<void> {
    const end = this.now + ms;
    await settle();
    while (this.fireNext(end)) await settle();
    this.now = end;
  }

  private fireNext(end: number): boolean {
    const due = [...this.pending].filter(([, t]) => t.at <= end).sort((a, b) => a[1].at - b[1].at)[0];
    if (!due) return false;
    this.pending.delete(due[0]);
    this.now = due[1].at;
    due[1].fn();
    return true;
  }
}

/** Lets every pending promise chain run until it waits on a timer or on the test. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}
