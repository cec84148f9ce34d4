import { EventEmitter } from 'node:events';
import { EtcdRefusedError, LeaseNotFoundError, LeaseRefusedError } from '../common/errors.js';
import { PERMISSION_DENIED } from '../common/etcd-gateway-call.js';
import { type NodeRecord, formatRecord, recordKey } from '../common/record-format.js';
import { type CheckResult, checkWithDeadline } from './app-health.js';
import { Backoff, isRetryable } from './backoff.js';
import { type Clock, systemClock } from './clock.js';
import type { LeaseStore } from './lease-store.js';
import type { RegistrarOptions } from './options.js';

/**
 * - `waiting`: the app has not answered its health check yet (checked every `waitCheckIntervalMs`,
 *   1% of the time waited more: an app that never answers is not polled 200 times a second forever).
 * - `registering`: granting a lease and putting the record, retried with backoff until it works.
 * - `registered`: the record is on our lease, renewed every TTL/3 and verified every TTL.
 * - `deregistered`: the app failed `checkFall` checks in a row; the lease was revoked. It registers
 *   again after `checkRise` passed checks in a row.
 * - `leaving` / `stopped`: stop() was called; the lease is being / has been revoked.
 */
export type RegistrarState = 'waiting' | 'registering' | 'registered' | 'deregistered' | 'leaving' | 'stopped';

export interface StateChange {
  state: RegistrarState;
  previous: RegistrarState;
  reason: string;
  key: string;
  leaseId?: string;
}

/** A registration attempt failed; the next one comes after `delayMs`. */
export interface RetryEvent {
  attempt: number;
  error: Error;
  retryable: boolean;
  delayMs: number;
}

/** A keepalive got no answer; the lease is kept, and renewed again at the next tick. */
export interface KeepaliveFailed {
  error: Error;
  leaseId: string;
  /** ms since etcd last confirmed the lease */
  unconfirmedMs: number;
}

/** The stored record was not ours (missing, on another lease, another value) and was rewritten. */
export interface Repaired {
  found: 'missing' | 'other lease' | 'other value';
  leaseId: string;
}

/**
 * An app check that counts toward a change: one that failed while the node is in (registering or
 * registered: it leaves at `needed` = `checkFall` in a row) or passed while it is out
 * (deregistered: it rejoins at `needed` = `checkRise` in a row). `inRow` 0: the check that ended
 * such a run before it got there.
 */
export interface CheckCounted extends CheckResult {
  inRow: number;
  needed: number;
}

/** A lease could not be revoked; it expires after its TTL. */
export interface RevokeFailed {
  error: Error;
  leaseId: string;
}

/** The app has not answered its first check for `forMs` (every `WAITING_REPORT_MS` while it lasts). */
export interface StillWaiting {
  forMs: number;
  timedOut: boolean;
}

export interface RegistrarEvents {
  state: [StateChange];
  waiting: [StillWaiting];
  retry: [RetryEvent];
  check: [CheckCounted];
  keepaliveFailed: [KeepaliveFailed];
  repaired: [Repaired];
  revokeFailed: [RevokeFailed];
}

/** What the registrar needs from outside, so tests can replace etcd, the app and the clock. */
export interface RegistrarDeps {
  store: LeaseStore;
  /**
   * Resolves true when the app answers its health check. `signal` aborts when the registrar gives
   * up on the answer (`checkTimeoutMs` passed, or stop()).
   */
  appHealthy: (signal: AbortSignal) => Promise<boolean>;
  /** This host's address, used when none is configured. */
  ownAddress: () => string;
  /** Default: the system clock. */
  clock?: Clock;
  /** Jitter for the retry backoff, in [0, 1). Default Math.random. */
  random?: () => number;
}

/** How often an app that has not answered yet is reported. */
const WAITING_REPORT_MS = 10000;

/** How long a revoke may take on the way out before the lease is left to expire. */
const REVOKE_TIMEOUT_MS = 1000;
/**
 * How long the goodbye (the record marked `leaving`) may take. Longer than the revoke: without
 * it the renderer takes the node's going for a crash, and when most of a service goes so, fail
 * static holds them (seen on a loaded CI: a 1 s put timed out, two leavers held 60 s). The app
 * drains meanwhile (DRAIN_MS), so the wait costs nothing.
 */
const LEAVING_TIMEOUT_MS = 3000;

/**
 * Keeps one node's record under a lease while its app is healthy. One loop owns every etcd
 * call, so no two calls race: each turn acts on the app check that ended, starts the next one
 * when due, then registers, renews or verifies when due, then sleeps until the next thing is due
 * or a check ends. A check runs beside the loop under its own deadline: a slow app never delays
 * a keepalive. stop() aborts the call in flight, waits for the loop to end, and revokes whatever
 * lease the loop holds then.
 */
export class Registrar extends EventEmitter<RegistrarEvents> {
  readonly key: string;
  private current: RegistrarState = 'waiting';
  private reason = '';
  /** The lease we hold, from its grant on: whatever happens next, stop() revokes it. */
  private lease?: string;
  private registeredAt?: string;
  private confirmedAt = 0;
  private readonly due = { health: 0, attempt: 0, keepAlive: 0, verify: 0 };
  /** The app check in flight, if any: aborting it tells the check to give up. */
  private checking?: AbortController;
  /** The check that ended and that the loop has yet to act on. */
  private checked?: CheckResult;
  /** Checks in a row that disagree with where the node stands (failed while in, passed while out). */
  private inRow = 0;
  private readonly stopping = new AbortController();
  private nap?: AbortController;
  private loop?: Promise<void>;
  private stopped?: Promise<void>;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly ttlMs: number;
  private waitingSince?: number;
  private waitingReported = 0;

  constructor(
    private readonly o: RegistrarOptions,
    private readonly deps: RegistrarDeps,
  ) {
    super();
    this.key = recordKey(o.prefix, o.service, o.nodeId);
    this.clock = deps.clock ?? systemClock;
    this.backoff = new Backoff(deps.random ? { random: deps.random } : {});
    this.ttlMs = o.ttlSeconds * 1000;
  }

  get state(): RegistrarState {
    return this.current;
  }

  /** The lease the record is on, while there is one. */
  get leaseId(): string | undefined {
    return this.lease;
  }

  /** Registered, and etcd confirmed the lease within the last TTL. */
  get healthy(): boolean {
    return this.current === 'registered' && this.clock.monotonic() - this.confirmedAt <= this.ttlMs;
  }

  start(): void {
    this.waitingSince ??= this.clock.monotonic();
    this.loop ??= this.run();
  }

  /**
   * Leaves gracefully, then stops: marks the record `leaving` (the renderer takes it out of
   * rotation at once, however many leave together, and knows its deletion is no failure), then
   * revokes the lease. Safe to call twice.
   */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const registered = this.current === 'registered';
      this.setState('leaving', 'stop requested');
      this.checking?.abort();
      this.checking = undefined;
      this.stopping.abort();
      await this.loop;
      if (registered) await this.markLeaving();
      await this.dropLease();
      this.setState('stopped', 'lease revoked');
    })();
    return this.stopped;
  }

  /**
   * Stops without a goodbye: no mark, no revoke; the lease is left to expire. For a process that
   * goes away while another takes the record over (the per-host agent replaced).
   */
  abandon(): Promise<void> {
    this.stopped ??= (async () => {
      this.checking?.abort();
      this.checking = undefined;
      this.stopping.abort();
      await this.loop;
      this.setState('stopped', 'abandoned: the lease is left to expire');
    })();
    return this.stopped;
  }

  private get isStopping(): boolean {
    return this.stopping.signal.aborted;
  }

  private setState(state: RegistrarState, reason: string): void {
    if (state === this.current) return;
    const previous = this.current;
    this.current = state;
    this.reason = reason;
    this.emit('state', { state, previous, reason, key: this.key, ...(this.lease ? { leaseId: this.lease } : {}) });
  }

  private async run(): Promise<void> {
    await this.warmUp();
    while (!this.isStopping) {
      await this.turn();
      if (this.isStopping) break;
      if (this.checked) continue; // a check ended during the turn
      const check = this.checking ? Infinity : this.due.health; // else its end wakes the loop
      const next = this.current === 'registering' ? Math.min(check, this.due.attempt)
        : this.current === 'registered' ? Math.min(check, this.due.keepAlive, this.due.verify)
        : check;
      this.nap = new AbortController();
      const wake = () => this.nap?.abort();
      this.stopping.signal.addEventListener('abort', wake, { once: true });
      await this.clock.sleep(next - this.clock.monotonic(), this.nap.signal);
      this.stopping.signal.removeEventListener('abort', wake);
    }
  }

  /**
   * While the app starts: open the connection to etcd, log in, and take the lease the record will
   * go on, so that a join costs one write (the put) once the app answers. The lease carries no key
   * until then; stop() revokes it, and an attempt that finds it older than TTL/2 takes a new one
   * (nothing keeps it alive meanwhile). Errors are left to the attempt.
   */
  private async warmUp(): Promise<void> {
    try {
      await this.deps.store.get(this.key, this.stopping.signal);
      const id = await this.deps.store.grant(this.o.ttlSeconds, this.stopping.signal);
      this.lease = id; // from here on stop() revokes it, even if it came meanwhile
      this.confirmed();
    } catch {
      // the first registration attempt meets and reports whatever this met
    }
  }

  /** One turn of the loop: whatever is due, in order. */
  private async turn(): Promise<void> {
    const checked = this.checked;
    this.checked = undefined;
    if (checked) await this.judge(checked);
    if (this.isStopping) return;
    if (!this.checking && this.clock.monotonic() >= this.due.health) this.startCheck();
    if (this.current === 'registering' && this.clock.monotonic() >= this.due.attempt) await this.attempt();
    if (this.isStopping) return;
    if (this.current === 'registered' && this.clock.monotonic() >= this.due.keepAlive) await this.keepAlive();
    if (this.isStopping) return;
    if (this.current === 'registered' && this.clock.monotonic() >= this.due.verify) await this.verify();
  }

  /**
   * Starts a check of the app beside the loop; its end wakes the loop. The next one is due an
   * interval after this one started, or when it ends if it took longer: never two at once.
   */
  private startCheck(): void {
    const started = this.clock.monotonic();
    const check = new AbortController();
    this.checking = check;
    void checkWithDeadline(this.deps.appHealthy, this.clock, this.o.checkTimeoutMs, check.signal).then((r) => {
      if (this.checking !== check) return; // stop() gave up on it
      this.checking = undefined;
      // Until the app first answers, look often: a container's join waits on this.
      const every = this.current === 'waiting' && !r.passed ? this.waitInterval() : this.o.checkIntervalMs;
      this.due.health = Math.max(started + every, this.clock.monotonic());
      this.checked = r;
      this.nap?.abort();
    });
  }

  /**
   * Acts on a check that ended, as HAProxy's fall and rise do: a node leaves after `checkFall`
   * failures in a row and comes back after `checkRise` passes in a row, so a stall of the app
   * shorter than the fall (or a load that makes every app slow at once) empties no backend. The
   * first join waits for one pass: until then the node serves nothing anyway.
   */
  private async judge(r: CheckResult): Promise<void> {
    if (this.current === 'waiting') {
      if (r.passed) return this.enterRegistering('app healthy');
      const forMs = this.clock.monotonic() - (this.waitingSince ?? 0);
      if (forMs >= (this.waitingReported + 1) * WAITING_REPORT_MS) {
        this.waitingReported = Math.floor(forMs / WAITING_REPORT_MS);
        this.emit('waiting', { forMs, timedOut: r.timedOut });
      }
      return;
    }
    const isIn = this.current === 'registering' || this.current === 'registered';
    if (!isIn && this.current !== 'deregistered') return;
    const needed = isIn ? this.o.checkFall : this.o.checkRise;
    if (r.passed === isIn) {
      if (this.inRow > 0) this.emit('check', { ...r, inRow: 0, needed });
      this.inRow = 0;
      return;
    }
    this.inRow++;
    this.emit('check', { ...r, inRow: this.inRow, needed });
    if (this.inRow < needed) return;
    this.inRow = 0;
    if (!isIn) return this.enterRegistering(`app passed ${needed} checks in a row`);
    // Out at once rather than `draining` first: HAProxy's own check (every 1 s, fall 2) has most
    // likely stopped new requests to it already, a removed node's slot still lets the requests in
    // flight finish, and a load that fails every app at once would empty the backend through
    // `draining` just the same, for one more etcd write per node.
    await this.dropLease();
    this.setState('deregistered', `app failed ${needed} checks in a row`);
  }

  /** The first join waits on this; the longer the app takes, the less a few ms matter. */
  private waitInterval(): number {
    const waited = this.clock.monotonic() - (this.waitingSince ?? this.clock.monotonic());
    return Math.min(this.o.checkIntervalMs, Math.max(this.o.waitCheckIntervalMs, this.o.waitCheckIntervalMs + waited / 100));
  }

  private enterRegistering(reason: string): void {
    this.backoff.reset();
    this.due.attempt = this.clock.monotonic();
    this.setState('registering', reason);
  }

  /** Grants a lease (unless we hold one already) and puts the record on it. */
  private async attempt(): Promise<void> {
    const signal = this.stopping.signal;
    let granted = false;
    try {
      // A lease nothing kept alive for TTL/2 may expire under the put: left to expire, not reused.
      if (this.lease !== undefined && this.clock.monotonic() - this.confirmedAt > this.ttlMs / 2) this.lease = undefined;
      if (this.lease === undefined) {
        const id = await this.deps.store.grant(this.o.ttlSeconds, signal);
        // Held from here on, even if stop() came meanwhile: stop() revokes it after the loop ends.
        this.lease = id;
        granted = true;
        this.confirmed();
        this.registeredAt = new Date(this.clock.wall()).toISOString();
        if (this.isStopping) return;
      }
      this.registeredAt ??= new Date(this.clock.wall()).toISOString(); // the warm-up's lease: its first put
      await this.deps.store.put(this.key, this.value(), this.lease, signal);
      if (this.isStopping) return;
      this.confirmed();
      this.due.verify = this.clock.monotonic() + this.ttlMs;
      this.backoff.reset();
      this.setState('registered', this.reason);
    } catch (caught) {
      if (this.isStopping) return;
      let err = caught;
      if (err instanceof LeaseNotFoundError) this.lease = undefined;
      if (isPermissionDenied(err) && this.lease !== undefined) {
        // Our key is refused, or the lease carries a key we may not write (someone attached one
        // while it carried none of ours). A lease granted for this very attempt carries none: then
        // it is our key, and the refusal waits the longest backoff as any refusal does. Either way
        // the lease goes (the revoke of one carrying a foreign key is refused too: it expires) and
        // the next attempt takes a new one.
        if (!granted) err = new LeaseRefusedError(this.lease, { cause: err });
        await this.dropLease();
      }
      const delayMs = this.backoff.next(err);
      this.due.attempt = this.clock.monotonic() + delayMs;
      this.emit('retry', { attempt: this.backoff.attempts, error: err as Error, retryable: isRetryable(err), delayMs });
    }
  }

  private async keepAlive(): Promise<void> {
    const lease = this.lease!;
    try {
      await this.deps.store.keepAlive(lease, this.stopping.signal);
      this.confirmed();
    } catch (err) {
      if (this.isStopping) return;
      if (err instanceof LeaseNotFoundError) return this.lost(`lease ${lease} lost (expired or revoked)`);
      // No answer: keep the lease. etcd tells at the next answer whether it still exists.
      this.due.keepAlive = this.clock.monotonic() + this.ttlMs / 3;
      this.emit('keepaliveFailed', { error: err as Error, leaseId: lease, unconfirmedMs: this.clock.monotonic() - this.confirmedAt });
    }
  }

  /**
   * Reads the key back: missing, on another lease or with another value, it is rewritten on ours.
   * A rewrite refused on our lease (someone attached a key to it that we may not write) moves the
   * record to a new lease.
   */
  private async verify(): Promise<void> {
    const lease = this.lease!;
    let putting = false;
    try {
      const stored = await this.deps.store.get(this.key, this.stopping.signal);
      this.due.verify = this.clock.monotonic() + this.ttlMs;
      if (this.isStopping) return;
      const want = this.value();
      const found = !stored ? 'missing' : stored.leaseId !== lease ? 'other lease' : stored.value !== want ? 'other value' : undefined;
      if (!found) return;
      putting = true;
      await this.deps.store.put(this.key, want, lease, this.stopping.signal);
      if (this.isStopping) return;
      this.emit('repaired', { found, leaseId: lease });
    } catch (err) {
      if (this.isStopping) return;
      if (err instanceof LeaseNotFoundError) return this.lost(`lease ${lease} lost (found while verifying)`);
      // Not revoked: the record stays on it until the put on the new lease moves it.
      if (putting && isPermissionDenied(err)) return this.lost(`lease ${lease} refused: the record's rewrite on it was denied`);
      // Unreachable or refused: the keepalive decides whether the lease is lost; verify again next TTL.
      this.due.verify = this.clock.monotonic() + this.ttlMs;
    }
  }

  private confirmed(): void {
    this.confirmedAt = this.clock.monotonic();
    this.due.keepAlive = this.confirmedAt + this.ttlMs / 3;
  }

  private lost(reason: string): void {
    this.lease = undefined;
    this.enterRegistering(reason);
  }

  /** The goodbye: our record on our lease with state `leaving`. Best effort: the revoke follows anyway. */
  private async markLeaving(): Promise<void> {
    const lease = this.lease;
    if (lease === undefined || this.registeredAt === undefined) return;
    try {
      await this.deps.store.put(this.key, this.value('leaving'), lease, AbortSignal.timeout(LEAVING_TIMEOUT_MS));
    } catch {
      // Unreachable or refused: the revoke (or the lease's expiry) still removes the record.
    }
  }

  /** The record as we would write it now (the address may have changed since the last write). */
  private value(state: NodeRecord['state'] = 'up'): string {
    const r: NodeRecord = {
      id: this.o.nodeId,
      service: this.o.service,
      address: this.o.address ?? this.deps.ownAddress(),
      port: this.o.port,
      tag: this.o.tag,
      weight: this.o.weight,
      state,
      registeredAt: this.registeredAt!,
    };
    return formatRecord(r, this.key);
  }

  /** Revokes the lease we hold, if any; if etcd cannot be reached it expires after its TTL. */
  private async dropLease(): Promise<void> {
    const lease = this.lease;
    this.lease = undefined;
    if (lease === undefined) return;
    try {
      await this.deps.store.revoke(lease, AbortSignal.timeout(REVOKE_TIMEOUT_MS));
    } catch (err) {
      this.emit('revokeFailed', { error: err as Error, leaseId: lease });
    }
  }
}

function isPermissionDenied(err: unknown): boolean {
  return err instanceof EtcdRefusedError && err.grpcCode === PERMISSION_DENIED;
}
