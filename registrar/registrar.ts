import { EventEmitter } from 'node:events';
import type { Etcd3, Lease } from 'etcd3';
import pRetry, { AbortError } from 'p-retry';
import { StoreError } from '../common/errors.js';
import { type NodeRecord, recordKey, serializeRecord } from '../common/record.js';
import type { RegistrarOptions } from './options.js';

/**
 * - `waiting`: the app has not answered its health check yet.
 * - `registering`: granting a lease and putting the record, retrying until it works.
 * - `registered`: the record is live on a kept-alive lease.
 * - `deregistered`: the app turned unhealthy; the lease was revoked.
 * - `leaving` / `stopped`: SIGTERM; the lease is being / has been revoked.
 */
export type RegistrarState = 'waiting' | 'registering' | 'registered' | 'deregistered' | 'leaving' | 'stopped';

export interface StateChange {
  state: RegistrarState;
  previous: RegistrarState;
  reason: string;
  key: string;
  leaseId?: string;
}

export interface RetryEvent {
  attempt: number;
  error: Error;
}

export interface RegistrarEvents {
  state: [StateChange];
  retry: [RetryEvent];
}

/** What the registrar needs from outside, so tests can replace the app check or the clock. */
export interface RegistrarDeps {
  etcd: Etcd3;
  /** Resolves true when the app answers its health check. */
  appHealthy: () => Promise<boolean>;
  /** This host's address, used when none is configured. */
  ownAddress: () => string;
  now?: () => number;
}

/**
 * Keeps one node's record under a lease while its app is healthy. One loop drives it:
 * check health, then register, deregister or verify; lease loss just wakes the loop.
 */
export class Registrar extends EventEmitter<RegistrarEvents> {
  readonly key: string;
  private current: RegistrarState = 'waiting';
  private lease?: Lease;
  private leaseId?: string;
  private lastVerified = 0;
  private readonly abort = new AbortController();
  private wake?: () => void;
  private loop?: Promise<void>;
  private readonly now: () => number;

  constructor(
    private readonly o: RegistrarOptions,
    private readonly deps: RegistrarDeps,
  ) {
    super();
    this.key = recordKey(o.prefix, o.service, o.nodeId);
    this.now = deps.now ?? Date.now;
  }

  get state(): RegistrarState {
    return this.current;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Revokes the lease so the node leaves at once, then stops. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.current === 'leaving' || this.current === 'stopped') return this.loop;
    this.abort.abort();
    this.wake?.();
    this.setState('leaving', 'stop requested');
    await this.loop?.catch(() => undefined);
    await this.dropLease();
    this.setState('stopped', 'lease revoked');
  }

  private setState(state: RegistrarState, reason: string): void {
    if (state === this.current) return;
    const previous = this.current;
    this.current = state;
    this.emit('state', { state, previous, reason, key: this.key, leaseId: this.leaseId });
  }

  private get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      const healthy = await this.deps.appHealthy();
      if (this.stopping) break;
      if (healthy && this.current !== 'registered') {
        await this.register(this.current === 'waiting' ? 'app healthy' : this.current === 'deregistered' ? 'app healthy again' : 'lease lost');
      } else if (!healthy && (this.current === 'registered' || this.current === 'registering')) {
        await this.dropLease();
        this.setState('deregistered', 'app unhealthy');
      } else if (healthy && this.now() - this.lastVerified >= this.o.ttlSeconds * 1000) {
        await this.verify();
      }
      // Until the app first answers, look often: a container's join waits on this.
      await this.sleep(this.current === 'waiting' ? Math.min(100, this.o.checkIntervalMs) : this.o.checkIntervalMs);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wake = done;
    });
  }

  private record(): NodeRecord {
    return {
      id: this.o.nodeId,
      service: this.o.service,
      address: this.o.address ?? this.deps.ownAddress(),
      port: this.o.port,
      tag: this.o.tag,
      weight: this.o.weight,
      state: 'up',
      registeredAt: new Date(this.now()).toISOString(),
    };
  }

  /** Grants a fresh lease and puts the record on it, retrying with backoff until it works or we stop. */
  private async register(reason: string): Promise<void> {
    this.setState('registering', reason);
    await this.dropLease();
    try {
      await pRetry(
        async () => {
          if (this.stopping) throw new AbortError('stopping');
          const lease = this.deps.etcd.lease(this.o.ttlSeconds);
          lease.on('lost', (err) => this.onLost(lease, err));
          try {
            const id = await lease.grant();
            await lease.put(this.key).value(serializeRecord(this.record())).exec();
            this.lease = lease;
            this.leaseId = id;
          } catch (err) {
            lease.release();
            throw new StoreError(`registering ${this.key} failed: ${(err as Error).message}`, { cause: err });
          }
        },
        {
          forever: true,
          minTimeout: 200,
          maxTimeout: 5000,
          factor: 2,
          randomize: true,
          signal: this.abort.signal,
          onFailedAttempt: (error) => {
            this.emit('retry', { attempt: error.attemptNumber, error });
          },
        },
      );
    } catch (err) {
      if (this.stopping) return;
      throw err;
    }
    this.lastVerified = this.now();
    this.setState('registered', reason);
  }

  private onLost(lease: Lease, err: Error): void {
    if (lease !== this.lease || this.current !== 'registered') return;
    this.lease = undefined;
    this.setState('registering', `lease lost: ${err.message}`);
    this.wake?.();
  }

  /** Catches a record removed behind our back (etcd restored empty, `etcdctl del`). */
  private async verify(): Promise<void> {
    try {
      const value = await this.deps.etcd.get(this.key).string();
      this.lastVerified = this.now();
      if (value === null && this.current === 'registered') {
        this.lease?.release();
        this.lease = undefined;
        this.setState('registering', 'record missing from etcd');
      }
    } catch {
      // etcd unreachable: the lease's own keepalive decides whether we lost it.
    }
  }

  /** Revokes the current lease; if etcd cannot be reached, stops renewing so it expires. */
  private async dropLease(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    this.leaseId = undefined;
    if (!lease) return;
    try {
      await lease.revoke({ deadline: Date.now() + 1000 });
    } catch {
      lease.release();
    }
  }
}
