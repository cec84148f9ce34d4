import { RecordError } from '../common/errors.js';
import { type NodeRecord, parseRecord } from '../common/record.js';
import type { KV, WatchEvent } from './store.js';

export interface Evaluation {
  /** Valid records sorted by service, then id. */
  records: NodeRecord[];
  rejected: RecordError[];
}

/** The renderer's picture of the prefix: raw values by key, validated on evaluation. */
export class NodeView {
  private readonly kvs = new Map<string, string>();

  constructor(private readonly prefix: string) {}

  get size(): number {
    return this.kvs.size;
  }

  reset(kvs: KV[]): void {
    this.kvs.clear();
    for (const { key, value } of kvs) this.kvs.set(key, value);
  }

  apply(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'put') this.kvs.set(e.key, e.value);
      else this.kvs.delete(e.key);
    }
  }

  evaluate(): Evaluation {
    const records: NodeRecord[] = [];
    const rejected: RecordError[] = [];
    for (const [key, value] of this.kvs) {
      try {
        records.push(parseRecord(this.prefix, key, value));
      } catch (err) {
        if (err instanceof RecordError) rejected.push(err);
        else throw err;
      }
    }
    records.sort((a, b) => cmp(a.service, b.service) || cmp(a.id, b.id));
    return { records, rejected };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
