import type { Clock } from '../../registrar/clock.js';

/**
 * A clock that moves only when a test says so. Sleepers wake in deadline order, and after
 * each wake the promise chains they started run to their next wait before time moves on.
 * Monotonic time starts at 0 (as performance.now() starts near 0 in a new process); the wall
 * clock goes along with it until a test steps it (`stepWall`).
 */
export class FakeClock implements Clock {
  private t = 0;
  private wallOffset: number;
  private sleepers: { until: number; wake: () => void }[] = [];

  constructor(wallStart = Date.parse('2026-01-01T00:00:00.000Z')) {
    this.wallOffset = wallStart;
  }

  monotonic = (): number => this.t;

  wall = (): number => this.t + this.wallOffset;

  /** Steps the wall clock by `ms` (negative: back), as NTP or an operator would; monotonic time goes on. */
  stepWall(ms: number): void {
    this.wallOffset += ms;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const s = { until: this.t + Math.max(0, ms), wake: () => {} };
      s.wake = () => {
        this.sleepers = this.sleepers.filter((x) => x !== s);
        signal?.removeEventListener('abort', s.wake);
        resolve();
      };
      this.sleepers.push(s);
      signal?.addEventListener('abort', s.wake, { once: true });
    });
  }

  /** Lets every pending promise chain run until it waits on the clock (or on a held call). */
  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  }

  /** Moves time forward by `ms`, waking sleepers in deadline order. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await this.settle();
    for (;;) {
      const next = this.sleepers.filter((s) => s.until <= end).sort((a, b) => a.until - b.until)[0];
      if (!next) break;
      this.t = Math.max(this.t, next.until);
      for (const s of this.sleepers.filter((x) => x.until <= this.t)) s.wake();
      await this.settle();
    }
    this.t = end;
    await this.settle();
  }

  /** Advances in small steps until `probe` returns something truthy; fails after `maxMs` of fake time. */
  async until<T>(probe: () => T, what: string, maxMs = 60000, stepMs = 5): Promise<NonNullable<T>> {
    const deadline = this.t + maxMs;
    for (;;) {
      const v = probe();
      if (v) return v as NonNullable<T>;
      if (this.t >= deadline) throw new Error(`fake clock: no ${what} within ${maxMs} ms`);
      await this.advance(stepMs);
    }
  }
}
