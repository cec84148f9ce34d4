import { type AdmissionRules, admit, policyProblem } from '../common/admission.js';
import { RecordError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import type { KV, WatchEvent } from '../common/store.js';

export interface Evaluation {
  /** Admitted records by key: what the load balancer should serve. */
  records: Map<string, NodeRecord>;
  /** Keys refused now (an invalid overwrite of a live key keeps its last valid record, and is here too). */
  rejected: RecordError[];
  /** Unknown fields seen, by key (tolerated: a newer registrar's). */
  unknownFields: Map<string, string[]>;
  /** Valid records refused because their service has more than the cap, by service. */
  overCap: Map<string, number>;
}

interface Entry {
  record?: NodeRecord;
  error?: RecordError;
  unknown?: string[];
  /** The key's create revision: the last valid record belongs to this life of the key only. */
  createRevision?: string;
  /** The revision, value and lease this record was admitted at (an admitted value only: a 1 MB junk value is never kept). */
  modRevision?: string;
  value?: string;
  lease?: string;
}

/**
 * The renderer's picture of the prefix: each key admitted once when it arrives (so a pass over
 * 10,000 nodes parses only what changed), never its raw value (a 1 MB junk value is not kept).
 */
export class NodeView {
  private entries = new Map<string, Entry>();

  /** `maxPerService`: records served per service at most; the excess is refused (`overCap`). */
  constructor(
    private readonly prefix: string,
    private readonly rules: AdmissionRules,
    private readonly maxPerService = Infinity,
  ) {}

  /**
   * A full list replaces the picture. A key still there (same create revision) keeps its last
   * valid record through an invalid value, as between two lists: a registrar upgrade whose records
   * this renderer refuses must not drop its nodes at the next re-list. A key absent is gone.
   */
  reset(kvs: KV[], reuse = false): void {
    const before = this.entries;
    this.entries = new Map();
    for (const kv of kvs) {
      const prev = before.get(kv.key);
      // `reuse`: the same etcd and the same rules. A key admitted at the same revision with the
      // same value and lease is admitted already: a re-list of 10,000 unchanged keys parses none.
      // The value too, not the revision alone: a replaced etcd may repeat revisions.
      if (reuse && prev?.value !== undefined && kv.modRevision !== undefined && prev.modRevision === kv.modRevision && prev.createRevision === kv.createRevision && prev.value === kv.value && prev.lease === kv.lease) this.entries.set(kv.key, prev);
      else this.set(kv, prev);
    }
  }

  apply(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'put') this.set(e);
      else this.entries.delete(e.key);
    }
  }

  /** Whether `key` exists (admitted or not). */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /** The admitted record at `key` now, if any. */
  get(key: string): NodeRecord | undefined {
    return this.entries.get(key)?.record;
  }

  evaluate(): Evaluation {
    const records = new Map<string, NodeRecord>();
    const rejected: RecordError[] = [];
    const unknownFields = new Map<string, string[]>();
    for (const [key, e] of this.entries) {
      if (e.record) records.set(key, e.record);
      if (e.error) rejected.push(e.error);
      if (e.unknown?.length) unknownFields.set(key, e.unknown);
    }
    // Only a total over the cap can put a service over it: no count on every pass.
    const overCap = records.size > this.maxPerService ? this.cap(records) : new Map<string, number>();
    return { records, rejected, unknownFields, overCap };
  }

  /**
   * Leaves at most `maxPerService` records of each service in `records`: those registered first
   * (oldest create revision) keep serving, so a burst of new keys cannot push out the nodes
   * already there. Returns how many were refused, by service.
   */
  private cap(records: Map<string, NodeRecord>): Map<string, number> {
    const byService = new Map<string, string[]>();
    for (const [key, r] of records) {
      const keys = byService.get(r.service);
      if (keys) keys.push(key);
      else byService.set(r.service, [key]);
    }
    const overCap = new Map<string, number>();
    const age = (key: string) => {
      const rev = this.entries.get(key)?.createRevision;
      return rev === undefined ? undefined : BigInt(rev);
    };
    for (const [service, keys] of byService) {
      if (keys.length <= this.maxPerService) continue;
      const aged = keys.map((key) => ({ key, rev: age(key) }));
      aged.sort((a, b) => (a.rev === b.rev ? (a.key < b.key ? -1 : 1) : a.rev === undefined ? 1 : b.rev === undefined ? -1 : a.rev < b.rev ? -1 : 1));
      for (const { key } of aged.slice(this.maxPerService)) records.delete(key);
      overCap.set(service, keys.length - this.maxPerService);
    }
    return overCap;
  }

  private set(kv: KV, prev = this.entries.get(kv.key)): void {
    const { createRevision, modRevision } = kv;
    try {
      const { record, unknownFields } = admit(this.prefix, kv, this.rules);
      this.entries.set(kv.key, { record, unknown: unknownFields, createRevision, modRevision, value: kv.value, lease: kv.lease });
    } catch (err) {
      if (!(err instanceof RecordError)) throw err;
      // An invalid overwrite of a live key keeps its last valid record serving; a key deleted and
      // created again in between starts a new life without one, and a refusal by the admission
      // rules (an address this LB may not reach, now or since its rules changed) keeps nothing.
      let kept = !err.policy && prev?.createRevision === createRevision ? prev?.record : undefined;
      // The last valid record still answers to the rules as they are now, and to the key's lease now.
      const refused = kept && policyProblem(kept, kv.lease, this.rules);
      if (refused) kept = undefined;
      const error = kept ? new RecordError(err.key, `${err.reason} (invalid overwrite: the last valid record keeps serving)`) : refused ? new RecordError(err.key, `${err.reason}; its last valid record is refused too: ${refused}`, true) : err;
      this.entries.set(kv.key, { record: kept, error, createRevision, modRevision });
    }
  }
}
