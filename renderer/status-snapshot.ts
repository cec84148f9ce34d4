/**
 * One answer shared by every asker for `maxAgeMs`: `/status` costs HAProxy one `show stat` per
 * period, however many clients ask or pipeline (on a connection apart from the one joins and
 * leaves go through).
 */
export class Snapshot<T> {
  /** The latest answer; `at` is when it settled (undefined while it is being taken). */
  private last?: { value: Promise<T>; at?: number };

  constructor(
    private readonly take: () => Promise<T>,
    private readonly maxAgeMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The latest answer, or a new one when that is older than `maxAgeMs`; concurrent askers share it. */
  get(): Promise<T> {
    const last = this.last;
    // One in flight is shared however long HAProxy takes: a slow answer never queues another.
    if (last && (last.at === undefined || this.now() - last.at < this.maxAgeMs)) return last.value;
    const entry: { value: Promise<T>; at?: number } = { value: this.take() };
    this.last = entry;
    entry.value.then(
      () => (entry.at = this.now()),
      // A failed answer is not kept: the next asker tries again.
      () => {
        if (this.last === entry) this.last = undefined;
      },
    );
    return entry.value;
  }
}
