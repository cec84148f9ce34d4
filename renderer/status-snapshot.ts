/**
 * One answer shared by every asker for `maxAgeMs`: `/status` costs HAProxy one `show stat` per
 * period, however many clients ask or pipeline, so no caller can queue work on the one runtime
 * channel that joins and leaves go through.
 */
export class Snapshot<T> {
  private last?: { value: Promise<T>; at: number };

  constructor(
    private readonly take: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The latest answer, or a new one when that is older than `maxAgeMs`; concurrent askers share it. */
  get(): Promise<T> {
    const now = this.now();
    if (!this.last || now - this.last.at >= this.maxAgeMs) {
      const value = this.take();
      const entry = { value, at: now };
      this.last = entry;
      // A failed answer is not kept: the next asker tries again.
      value.catch(() => {
        if (this.last === entry) this.last = undefined;
      });
    }
    return this.last.value;
  }
}
