// The CLI's etcd calls: records and their leases, operator keys. Every failure comes out typed.
import {
  type Etcd3,
  EtcdAuthenticationFailedError,
  EtcdInvalidAuthTokenError,
  EtcdPermissionDeniedError,
  EtcdRoleNotGrantedError,
  GRPCDeadlineExceededError,
  GRPCUnauthenticatedError,
  GRPCUnavailableError,
} from 'etcd3';
import { StoreError } from '../common/errors.js';
import { type OperatorKind, operatorKey } from '../common/operator.js';
import { recordKey } from '../common/record.js';
import type { NodeRef } from './args.js';
import { EtcdUnreachableError, PermissionError } from './errors.js';
import { type EtcdNode, readNode } from './report.js';

export interface CliStoreOptions {
  /** For messages only: where etcd was looked for. */
  endpoints: string[];
  nodesPrefix: string;
  operatorPrefix: string;
  /** Lease look-ups in flight at once (`status` asks one per lease). Default 16. */
  leaseConcurrency?: number;
}

const DENIED = [EtcdPermissionDeniedError, EtcdAuthenticationFailedError, EtcdInvalidAuthTokenError, EtcdRoleNotGrantedError, GRPCUnauthenticatedError];

/**
 * What the CLI reads and writes in etcd. Reads: everything under the nodes and operator
 * prefixes, and each record's lease. Writes: operator keys only (the operator role's rights).
 */
export class CliStore {
  constructor(
    private readonly etcd: Etcd3,
    private readonly o: CliStoreOptions,
  ) {}

  /** Every record (of `service`, when given), with the time its lease has left. */
  async nodes(service?: string): Promise<EtcdNode[]> {
    const prefix = service === undefined ? this.o.nodesPrefix : `${this.o.nodesPrefix}${service}/`;
    const res = await this.call(`read ${prefix}`, () => this.etcd.getAll().prefix(prefix).exec());
    const kvs = res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), lease: String(kv.lease) }));
    const ttls = await this.ttls([...new Set(kvs.map((kv) => kv.lease).filter((l) => l !== '0'))]);
    return kvs.flatMap((kv) => readNode(this.o.nodesPrefix, kv, ttls.get(kv.lease)) ?? []);
  }

  /** Every key under the operator prefix. */
  async operatorKeys(): Promise<{ key: string; value: string }[]> {
    const res = await this.call(`read ${this.o.operatorPrefix}`, () => this.etcd.getAll().prefix(this.o.operatorPrefix).exec());
    return res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString() }));
  }

  /** Whether `node` has a record, and the ids its service has (for the error message). */
  async registered(node: NodeRef): Promise<{ registered: boolean; ids: string[] }> {
    const prefix = `${this.o.nodesPrefix}${node.service}/`;
    const res = await this.call(`read ${prefix}`, () => this.etcd.getAll().prefix(prefix).keys());
    const ids = res.map((k) => k.slice(prefix.length)).sort();
    return { registered: ids.includes(node.id), ids };
  }

  key(kind: OperatorKind, node: NodeRef): string {
    return operatorKey(this.o.operatorPrefix, kind, node.service, node.id);
  }

  nodeKey(node: NodeRef): string {
    return recordKey(this.o.nodesPrefix, node.service, node.id);
  }

  async get(key: string): Promise<string | null> {
    return this.call(`read ${key}`, () => this.etcd.get(key).string());
  }

  /** Puts `value` at `key`, on no lease: operator keys stay until an operator removes them. */
  async put(key: string, value: string): Promise<void> {
    await this.call(`write ${key}`, () => this.etcd.put(key).value(value).exec());
  }

  /** Deletes `key`; true if it existed. */
  async delete(key: string): Promise<boolean> {
    const res = await this.call(`delete ${key}`, () => this.etcd.delete().key(key).exec());
    return Number(res.deleted) > 0;
  }

  /** Seconds left per lease id (decimal); -1 for a lease that expired meanwhile. */
  private async ttls(leases: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const queue = [...leases];
    const worker = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        const lease = id;
        const res = await this.call(`read lease ${BigInt(lease).toString(16)}`, () => this.etcd.leaseClient.leaseTimeToLive({ ID: lease }));
        out.set(lease, Number(res.TTL));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.leaseConcurrency ?? 16, leases.length) }, worker));
    return out;
  }

  /** Runs one etcd call; a failure comes out as EtcdUnreachableError, PermissionError or StoreError. */
  private async call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw etcdFailure(err, action, this.o.endpoints);
    }
  }
}

/** A typed error for what etcd3 threw while doing `action`. */
export function etcdFailure(err: unknown, action: string, endpoints: string[]): Error {
  if (DENIED.some((c) => err instanceof c)) return new PermissionError(action, { cause: err });
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof GRPCUnavailableError || err instanceof GRPCDeadlineExceededError || /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|No connection established|connect failed|deadline/i.test(message)) {
    return new EtcdUnreachableError(endpoints, { cause: err });
  }
  return new StoreError(`etcd: ${action} failed: ${message}`, { cause: err });
}
