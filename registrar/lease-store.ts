import type { StoredValue } from '../common/etcd-gateway.js';

/**
 * What the registrar needs from etcd (common/etcd-gateway.ts provides it; unit tests use an
 * in-memory fake). Calls reject with the typed errors of common/errors.ts: EtcdUnavailableError
 * and LeaseNotFoundError are retryable, EtcdRefusedError is not.
 */
export interface LeaseStore {
  /** Grants a lease; resolves with its id. */
  grant(ttlSeconds: number, signal?: AbortSignal): Promise<string>;
  /** Puts `value` at `key` on the lease. Rejects with LeaseNotFoundError when the lease is gone. */
  put(key: string, value: string, leaseId: string, signal?: AbortSignal): Promise<void>;
  /** Renews the lease once; resolves with its TTL left, s. Rejects with LeaseNotFoundError when it is gone. */
  keepAlive(leaseId: string, signal?: AbortSignal): Promise<number>;
  /** The value at `key` and its lease id ('0' for none); undefined when there is no such key. */
  get(key: string, signal?: AbortSignal): Promise<StoredValue | undefined>;
  /** Revokes the lease and so deletes its keys; a lease already gone counts as revoked. */
  revoke(leaseId: string, signal?: AbortSignal): Promise<void>;
}
