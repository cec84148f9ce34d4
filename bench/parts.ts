// A benchmark run is a sequence of parts; each records the load average it started under, so a
// figure taken while something else used the 2 cores is flagged next to it.
import { type LoadAverage, clock, loadAverage, round } from './machine.js';

export interface PartRecord {
  name: string;
  startedAt: string;
  loadAtStart: LoadAverage;
  seconds?: number;
}

export class Parts {
  readonly records: PartRecord[] = [];

  /** @param only names of the parts to run (`BENCH_ONLY`); all when empty. */
  constructor(private readonly only: string[] = []) {}

  /** Runs one part (unless left out), logging its start with the load average. */
  async run<T>(name: string, body: () => Promise<T>): Promise<T | undefined> {
    if (this.only.length && !this.only.includes(name)) return undefined;
    const rec: PartRecord = { name, startedAt: new Date().toISOString(), loadAtStart: loadAverage() };
    this.records.push(rec);
    const l = rec.loadAtStart;
    log(`part ${name}: load average ${l.one} ${l.five} ${l.fifteen}${l.one > 1 ? '  (busy machine: figures below may be inflated)' : ''}`);
    const t0 = clock();
    try {
      return await body();
    } finally {
      rec.seconds = round((clock() - t0) / 1000);
    }
  }
}

export const log = (msg: string): void => console.log(`[${new Date().toISOString().slice(11, 23)}] ${msg}`);
