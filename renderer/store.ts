import type { Etcd3, Watcher } from 'etcd3';
import { StoreError } from '../common/errors.js';

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
}

/** Everything under a prefix at one revision. */
export interface Snapshot {
  revision: bigint;
  /** The cluster that answered: another id means another (possibly emptied) etcd. */
  clusterId?: string;
  kvs: KV[];
}

export type WatchEvent = ({ type: 'put' } & KV) | { type: 'delete'; key: string };

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

export class EtcdStore implements NodeStore {
  constructor(private readonly etcd: Etcd3) {}

  async list(prefix: string): Promise<Snapshot> {
    try {
      const res = await this.etcd.getAll().prefix(prefix).exec();
      return {
        revision: BigInt(res.header.revision),
        clusterId: String(res.header.cluster_id),
        kvs: res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), lease: String(kv.lease), createRevision: String(kv.create_revision) })),
      };
    } catch (err) {
      throw new StoreError(`listing ${prefix} failed: ${(err as Error).message}`, { cause: err });
    }
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
          e.type === 'Put' ? { type: 'put', key: e.kv.key.toString(), value: e.kv.value.toString(), lease: String(e.kv.lease), createRevision: String(e.kv.create_revision) } : { type: 'delete', key: e.kv.key.toString() },
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
