// The etcd store: a list of a prefix at one revision, then a watch from there. The renderer
// follows the nodes and operator prefixes with it; `leasehold watch` follows them too.
import { type Etcd3, GRPCResourceExhastedError, type IKeyValue, type IRangeResponse, type Watcher } from 'etcd3';
import { StoreError } from './errors.js';

export interface KV {
  key: string;
  value: string;
  /** The lease the key is attached to, `0` or unset for none. */
  lease?: string;
  /**
   * The revision that created the key: another one means the key was deleted and created again
   * in between (a gap in the watch can hide the delete). Unset when the store does not say.
   */
  createRevision?: string;
  /** The revision that last changed the key: the same one holds the same value. Unset when the store does not say. */
  modRevision?: string;
  /**
   * Why the value was not read (too large: over the record limit, or over what one gRPC reply
   * may carry); `value` is then empty. The key counts as present, with an invalid value.
   */
  unread?: string;
}

/** Everything under a prefix at one revision. */
export interface Snapshot {
  revision: bigint;
  /** The cluster that answered: another id means another (possibly emptied) etcd. */
  clusterId?: string;
  kvs: KV[];
}

/** `revision`: the event's (mod) revision, when the store says: the newest one seen is what a wipe goes back from. */
export type WatchEvent = (({ type: 'put' } & KV) | { type: 'delete'; key: string }) & { revision?: string };

export interface WatchHandlers {
  /** Changes in revision order. */
  events(events: WatchEvent[]): void;
  /** The watch stopped (disconnect, compaction, cancel): the caller must re-list. */
  broken(error: Error): void;
}

export interface WatchHandle {
  cancel(): Promise<void>;
}

/** The two things the renderer needs from a store (as confd's backends). */
export interface NodeStore {
  list(prefix: string): Promise<Snapshot>;
  watch(prefix: string, fromRevision: bigint, handlers: WatchHandlers): Promise<WatchHandle>;
}

export interface EtcdStoreOptions {
  /**
   * Keys per page of a list. A list is read in pages (all at the first page's revision) so that
   * no reply nears gRPC's 4 MiB limit: 500 records of at most 4 KiB are 2 MB. A page refused as
   * too large (oversized values) is read again in smaller pages. Default 500.
   */
  pageKeys?: number;
  /**
   * Values larger than this are not kept (the record limit: they would be refused anyway); the
   * key comes with `unread` and an empty value. Default: no limit.
   */
  maxValueBytes?: number;
}

/** gRPC's own refusal of a reply over its receive limit (4 MiB), not etcd's "too many requests". */
const tooLargeToReceive = (err: unknown) => err instanceof GRPCResourceExhastedError && /larger than max/i.test(err.message);

/** The first key after every key that starts with `prefix`. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // every key
}

export class EtcdStore implements NodeStore {
  private readonly pageKeys: number;
  private readonly maxValueBytes: number;

  constructor(
    private readonly etcd: Etcd3,
    o: EtcdStoreOptions = {},
  ) {
    this.pageKeys = o.pageKeys ?? 500;
    this.maxValueBytes = o.maxValueBytes ?? Infinity;
  }

  /**
   * Everything under `prefix`, page by page at one revision R (the first page's): a consistent
   * list of any size. A page too large to receive is read again in halves, down to one key; a
   * key whose value alone is too large comes with `unread`, and the list goes on past it.
   */
  async list(prefix: string): Promise<Snapshot> {
    const end = prefixEnd(Buffer.from(prefix));
    const kvs: KV[] = [];
    let from = Buffer.from(prefix);
    let revision: string | undefined;
    let clusterId: string | undefined;
    let limit = this.pageKeys;
    try {
      for (;;) {
        const at = { key: from, range_end: end, ...(revision && { revision }) };
        let page: IRangeResponse;
        let unread: string | undefined;
        try {
          page = await this.etcd.kv.range({ ...at, limit });
        } catch (err) {
          if (!tooLargeToReceive(err)) throw err;
          if (limit > 1) {
            limit = Math.ceil(limit / 2);
            continue;
          }
          // One value too large for any reply: its key, lease and create revision without it.
          page = await this.etcd.kv.range({ ...at, limit: 1, keys_only: true });
          unread = 'value is over the 4 MiB a reply may carry: not read';
        }
        revision ??= page.header.revision;
        clusterId ??= String(page.header.cluster_id);
        for (const kv of page.kvs) kvs.push(unread ? { ...this.kv(kv, false), unread } : this.kv(kv, true));
        const last = page.kvs.at(-1);
        if (!page.more || !last) break;
        from = Buffer.concat([last.key, Buffer.from([0])]);
        // Back towards full pages after a split: oversized values are few.
        limit = Math.min(this.pageKeys, limit * 2);
      }
    } catch (err) {
      throw new StoreError(`listing ${prefix} failed: ${(err as Error).message}`, { cause: err });
    }
    return { revision: BigInt(revision), clusterId, kvs };
  }

  private kv(kv: IKeyValue, withValue: boolean): KV {
    const out: KV = { key: kv.key.toString(), value: '', lease: String(kv.lease), createRevision: String(kv.create_revision), modRevision: String(kv.mod_revision) };
    if (!withValue) return out;
    if (kv.value.length > this.maxValueBytes) out.unread = `value is ${kv.value.length} bytes, over ${this.maxValueBytes}: not kept`;
    else out.value = kv.value.toString();
    return out;
  }

  async watch(prefix: string, fromRevision: bigint, h: WatchHandlers): Promise<WatchHandle> {
    let watcher: Watcher;
    try {
      watcher = await this.etcd.watch().prefix(prefix).startRevision(fromRevision.toString()).create();
    } catch (err) {
      throw new StoreError(`watching ${prefix} failed: ${(err as Error).message}`, { cause: err });
    }
    let done = false;
    const cancel = async () => {
      if (done) return;
      done = true;
      watcher.removeAllListeners();
      watcher.on('error', () => undefined);
      await watcher.cancel().catch(() => undefined);
    };
    const broken = (err: Error) => {
      if (done) return;
      void cancel();
      h.broken(new StoreError(`watch on ${prefix} broken: ${err.message}`, { cause: err }));
    };
    watcher.on('data', (res) => {
      // Progress notifications carry no events: nothing to look at again.
      if (done || res.events.length === 0) return;
      h.events(
        res.events.map((e) =>
          e.type === 'Put' ? { type: 'put', ...this.kv(e.kv, true), revision: String(e.kv.mod_revision) } : { type: 'delete', key: e.kv.key.toString(), revision: String(e.kv.mod_revision) },
        ),
      );
    });
    // The library would resume by itself, but a gap is possible (compaction while away):
    // a full re-list is the only way to be sure.
    watcher.on('disconnected', broken);
    watcher.on('error', broken);
    watcher.on('end', () => broken(new Error('watch ended')));
    return { cancel };
  }
}
