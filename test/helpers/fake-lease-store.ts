import { EtcdRefusedError, EtcdUnavailableError, LeaseNotFoundError } from '../../common/errors.js';
import type { StoredValue } from '../../common/etcd-gateway.js';
import type { LeaseStore } from '../../registrar/lease-store.js';
import type { FakeClock } from './fake-clock.js';

type Kind = 'grant' | 'put' | 'keepAlive' | 'get' | 'revoke';

interface Hold {
  reached: Promise<void>;
  release: () => void;
}

/**
 * etcd's leases and keys in memory, on a fake clock, for the registrar's unit tests. Calls can
 * be failed (`down`, `failNext`) or held in flight (`hold`): a held call ignores its abort
 * signal and lands when released, as a request that etcd already received would.
 */
export class FakeLeaseStore implements LeaseStore {
  readonly leases = new Map<string, { ttlMs: number; expiresAt: number }>();
  readonly keys = new Map<string, StoredValue>();
  readonly calls: Kind[] = [];
  /** Every value put, in order. */
  readonly puts: string[] = [];
  /** When each call started (monotonic ms), in the order of `calls`. */
  private readonly callTimes: number[] = [];
  /** Every call fails with EtcdUnavailableError, and leases do not expire (etcd itself is down). */
  down = false;
  /** Every call fails with EtcdUnavailableError while leases go on expiring (we cannot reach etcd). */
  partitioned = false;
  /** Keys our role may not write: etcd refuses puts of them (permission denied). */
  readonly deniedKeys = new Set<string>();
  /**
   * Leases that carry a key we may not write (someone attached one): etcd refuses our puts on them
   * and their revoke (permission denied), as it checks every key already on the lease.
   */
  readonly foreignKeyOn = new Set<string>();
  private failures: { kind: Kind; err: Error }[] = [];
  private nextId = 7000;
  private holds = new Map<Kind, { hold: Hold; resolveReached: () => void; gate: Promise<void> }>();

  constructor(private readonly clock: FakeClock) {}

  /** The next call of `kind` fails with `err`, after etcd applied nothing. */
  failNext(kind: Kind, err: Error): void {
    this.failures.push({ kind, err });
  }

  /** The next call of `kind` waits, once started, until release(); `reached` resolves when it started. */
  hold(kind: Kind): Hold {
    let resolveReached!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((r) => (resolveReached = r));
    const gate = new Promise<void>((r) => (release = r));
    const hold = { reached, release };
    this.holds.set(kind, { hold, resolveReached, gate });
    return hold;
  }

  /** Deletes a lease and its keys, as its expiry or `etcdctl lease revoke` would. */
  drop(leaseId: string): void {
    this.leases.delete(leaseId);
    for (const [k, v] of this.keys) if (v.leaseId === leaseId) this.keys.delete(k);
  }

  /** etcd restarted: every lease gets its full TTL again (etcd's lessor does this on promotion). */
  restart(): void {
    this.down = false;
    for (const l of this.leases.values()) l.expiresAt = this.clock.monotonic() + l.ttlMs;
  }

  /** When the calls of `kind` started, monotonic ms. */
  times(kind: Kind): number[] {
    return this.callTimes.filter((_, i) => this.calls[i] === kind);
  }

  /** What is stored at `key` now, leases expired as due. */
  stored(key: string): StoredValue | undefined {
    this.expire();
    return this.keys.get(key);
  }

  async grant(ttlSeconds: number): Promise<string> {
    await this.enter('grant');
    const id = String(this.nextId++);
    this.leases.set(id, { ttlMs: ttlSeconds * 1000, expiresAt: this.clock.monotonic() + ttlSeconds * 1000 });
    return id;
  }

  async put(key: string, value: string, leaseId: string): Promise<void> {
    await this.enter('put');
    if (this.deniedKeys.has(key) || this.foreignKeyOn.has(leaseId)) throw denied();
    if (!this.leases.has(leaseId)) throw new LeaseNotFoundError(leaseId);
    this.keys.set(key, { value, leaseId });
    this.puts.push(value);
  }

  async keepAlive(leaseId: string): Promise<number> {
    await this.enter('keepAlive');
    const l = this.leases.get(leaseId);
    if (!l) throw new LeaseNotFoundError(leaseId);
    l.expiresAt = this.clock.monotonic() + l.ttlMs;
    return l.ttlMs / 1000;
  }

  async get(key: string): Promise<StoredValue | undefined> {
    await this.enter('get');
    const v = this.keys.get(key);
    return v && { ...v };
  }

  async revoke(leaseId: string): Promise<void> {
    await this.enter('revoke');
    if (this.foreignKeyOn.has(leaseId) && this.leases.has(leaseId)) throw denied();
    this.drop(leaseId);
  }

  private async enter(kind: Kind): Promise<void> {
    this.calls.push(kind);
    this.callTimes.push(this.clock.monotonic());
    const h = this.holds.get(kind);
    if (h) {
      this.holds.delete(kind);
      h.resolveReached();
      await h.gate;
    }
    this.expire();
    const failure = this.failures.findIndex((f) => f.kind === kind);
    if (failure >= 0) throw this.failures.splice(failure, 1)[0]!.err;
    if (this.down || this.partitioned) throw new EtcdUnavailableError('fake etcd is unreachable', 'http://fake:2379');
  }

  private expire(): void {
    if (this.down) return;
    for (const [id, l] of this.leases) if (l.expiresAt <= this.clock.monotonic()) this.drop(id);
  }
}

const denied = () => new EtcdRefusedError('etcd http://fake:2379: etcdserver: permission denied', 403, 7);
