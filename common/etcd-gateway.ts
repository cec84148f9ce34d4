// A small etcd client over etcd's own JSON gateway, for the registrar: five calls, plain
// node:http(s), no gRPC. Several endpoints fail over: a call that finds one unreachable goes
// on to the next, and later calls start from the one that last answered.
import { EtcdRefusedError, EtcdUnavailableError, LeaseNotFoundError } from './errors.js';
import { type GatewayCall, NOT_FOUND, UNAUTHENTICATED, gatewayAnswer, gatewayCalls, gatewayRequest } from './etcd-gateway-call.js';
import type { EtcdOptions } from './etcd-options.js';
import { type Post, createPost } from './http-post.js';
import { loadTls } from './tls-files.js';

/** A key's value and the lease it is attached to ('0' for none). */
export interface StoredValue {
  value: string;
  leaseId: string;
}

/** A gateway client for `o`, reading its TLS files now (unless read already: `tls`). */
export async function createEtcdGateway(o: EtcdOptions, tls = loadTls(o.tls)): Promise<EtcdGateway> {
  return new EtcdGateway(o, await createPost({ https: o.endpoints.some((e) => e.startsWith('https:')), ...(tls ? { tls } : {}) }));
}

export class EtcdGateway {
  /** Index of the endpoint that answered last: the first one tried by the next call. */
  private current = 0;
  private token?: string;

  constructor(
    private readonly o: EtcdOptions,
    private readonly post: Post,
  ) {}

  /** The endpoint the next call tries first. */
  get endpoint(): string {
    return this.o.endpoints[this.current]!;
  }

  /** Grants a lease of `ttlSeconds`; resolves with its id. */
  async grant(ttlSeconds: number, signal?: AbortSignal): Promise<string> {
    const a = await this.call(gatewayCalls.grant(ttlSeconds), signal);
    if (typeof a.ID !== 'string' || a.ID === '' || a.ID === '0') throw new EtcdUnavailableError(`etcd granted no lease: ${JSON.stringify(a)}`, this.endpoint);
    return a.ID;
  }

  /** Puts `value` at `key`, attached to the lease. @throws LeaseNotFoundError when the lease is gone. */
  async put(key: string, value: string, leaseId: string, signal?: AbortSignal): Promise<void> {
    await this.leaseCall(leaseId, gatewayCalls.put(key, value, leaseId), signal);
  }

  /** Renews the lease once; resolves with its TTL left in seconds. @throws LeaseNotFoundError when the lease is gone. */
  async keepAlive(leaseId: string, signal?: AbortSignal): Promise<number> {
    const a = await this.leaseCall(leaseId, gatewayCalls.keepAlive(leaseId), signal);
    // The gateway leaves TTL out (zero) for a lease that no longer exists.
    const ttl = Number(a.result?.TTL ?? 0);
    if (!(ttl > 0)) throw new LeaseNotFoundError(leaseId);
    return ttl;
  }

  /** The value at `key` and its lease, or undefined when the key does not exist. */
  async get(key: string, signal?: AbortSignal): Promise<StoredValue | undefined> {
    const a = await this.call(gatewayCalls.range(key), signal);
    const kv = Array.isArray(a.kvs) ? a.kvs[0] : undefined;
    if (!kv) return undefined;
    return { value: Buffer.from(kv.value ?? '', 'base64').toString('utf8'), leaseId: String(kv.lease ?? '0') };
  }

  /** Revokes the lease, deleting its keys. A lease already gone counts as revoked. */
  async revoke(leaseId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.leaseCall(leaseId, gatewayCalls.revoke(leaseId), signal);
    } catch (err) {
      if (!(err instanceof LeaseNotFoundError)) throw err;
    }
  }

  /** Releases kept-alive connections. */
  close(): void {
    this.post.close?.();
  }

  private async leaseCall(leaseId: string, c: GatewayCall, signal?: AbortSignal): Promise<Record<string, any>> {
    try {
      return await this.call(c, signal);
    } catch (err) {
      if (err instanceof EtcdRefusedError && err.grpcCode === NOT_FOUND) throw new LeaseNotFoundError(leaseId, { cause: err });
      throw err;
    }
  }

  /**
   * Sends `c` to the current endpoint, then to the others in turn while they are unavailable.
   * With auth, a missing or expired token is (re)fetched once on the endpoint that refused it,
   * and a call that got no answer drops the token.
   */
  private async call(c: GatewayCall, signal?: AbortSignal): Promise<Record<string, any>> {
    const n = this.o.endpoints.length;
    let last: EtcdUnavailableError | undefined;
    for (let i = 0; i < n; i++) {
      const index = (this.current + i) % n;
      const endpoint = this.o.endpoints[index]!;
      try {
        if (this.o.auth && this.token === undefined) await this.authenticate(endpoint, signal);
        let answer: Record<string, any>;
        try {
          answer = await this.send(endpoint, c, signal);
        } catch (err) {
          if (!(this.o.auth && err instanceof EtcdRefusedError && err.grpcCode === UNAUTHENTICATED)) throw err;
          await this.authenticate(endpoint, signal);
          answer = await this.send(endpoint, c, signal);
        }
        this.current = index;
        return answer;
      } catch (err) {
        if (!(err instanceof EtcdUnavailableError) || signal?.aborted) throw err;
        // A token may not outlive an etcd that stopped answering. An emptied etcd does not even
        // refuse it: a simple token names the raft index it was issued at, and etcd waits for
        // that index before it answers, past any deadline. The next call logs in again.
        this.token = undefined;
        last = err;
      }
    }
    throw n === 1 ? last! : new EtcdUnavailableError(`no etcd endpoint answered (last: ${last!.message})`, last!.endpoint, { cause: last });
  }

  private async authenticate(endpoint: string, signal?: AbortSignal): Promise<void> {
    this.token = undefined;
    const { username, password } = this.o.auth!;
    const a = await this.send(endpoint, gatewayCalls.authenticate(username, password), signal, false);
    if (typeof a.token !== 'string' || !a.token) throw new EtcdRefusedError(`etcd ${endpoint}: authenticate answered no token`, 200);
    this.token = a.token;
  }

  private async send(endpoint: string, c: GatewayCall, signal: AbortSignal | undefined, withToken = true): Promise<Record<string, any>> {
    const { url, headers, payload } = gatewayRequest(endpoint, c, withToken ? this.token : undefined);
    let reply;
    try {
      reply = await this.post(url, headers, payload, { dialTimeoutMs: this.o.dialTimeoutMs, callTimeoutMs: this.o.callTimeoutMs, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new EtcdUnavailableError(`etcd ${endpoint}${c.path}: ${(err as Error).message}`, endpoint, { cause: err });
    }
    return gatewayAnswer(endpoint, c.path, reply.status, reply.text);
  }
}
