import { RecordError } from '../common/errors.js';
import { type NodeRecord, parseRecord } from '../common/record.js';
import type { KV, WatchEvent } from './store.js';

export interface Evaluation {
  records: NodeRecord[];
  rejected: RecordError[];
}

/**
 * The renderer's picture of the prefix: each key's value, validated once when it arrives, so a
 * pass over 10,000 nodes parses only what changed.
 */
export class NodeView {
  private readonly entries = new Map<string, NodeRecord | RecordError>();

  constructor(private readonly prefix: string) {}

  reset(kvs: KV[]): void {
    this.entries.clear();
    for (const { key, value } of kvs) this.set(key, value);
  }

  apply(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'put') this.set(e.key, e.value);
      else this.entries.delete(e.key);
    }
  }

  evaluate(): Evaluation {
    const records: NodeRecord[] = [];
    const rejected: RecordError[] = [];
    for (const v of this.entries.values()) {
      if (v instanceof RecordError) rejected.push(v);
      else records.push(v);
    }
    return { records, rejected };
  }

  private set(key: string, value: string): void {
    try {
      this.entries.set(key, parseRecord(this.prefix, key, value));
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      this.entries.set(key, err);
    }
  }
}
