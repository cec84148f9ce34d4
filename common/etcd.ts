import { Etcd3, type IOptions } from 'etcd3';
import { type Env, int, list } from './env.js';

/** How registrar and renderer reach etcd. */
export interface EtcdOptions {
  /** etcd client URLs. Env `ETCD_ENDPOINTS`, comma-separated. Default `http://127.0.0.1:2379`. */
  endpoints: string[];
  /** Deadline of one unary call, ms. Env `ETCD_TIMEOUT_MS`. Default 2000. */
  callTimeoutMs: number;
  /** Connect timeout, ms. Env `ETCD_DIAL_TIMEOUT_MS`. Default 2000. */
  dialTimeoutMs: number;
}

export function etcdOptionsFromEnv(env: Env): EtcdOptions {
  return {
    endpoints: list(env, 'ETCD_ENDPOINTS', ['http://127.0.0.1:2379']).map((e) => (/^https?:\/\//.test(e) ? e : `http://${e}`)),
    callTimeoutMs: int(env, 'ETCD_TIMEOUT_MS', 2000, 100, 60000),
    dialTimeoutMs: int(env, 'ETCD_DIAL_TIMEOUT_MS', 2000, 100, 60000),
  };
}

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * Runs each call once: no retry, no circuit breaker (etcd3 only ever calls `execute`). Async, so
 * a call that throws becomes a rejected promise, as etcd3 expects.
 */
const once = {
  execute: async (fn: (context: { signal: AbortSignal }) => unknown, signal?: AbortSignal) => fn({ signal: signal ?? new AbortController().signal }),
} as unknown as Policy;

/**
 * An etcd client whose calls fail fast: both daemons retry on their own schedule (p-retry,
 * re-list), so the library's own retries and circuit breaker would only add delay.
 */
export function createEtcdClient(o: EtcdOptions): Etcd3 {
  return new Etcd3({
    hosts: o.endpoints,
    dialTimeout: o.dialTimeoutMs,
    grpcOptions: {
      // gRPC's default reconnect backoff grows to two minutes: far longer than a lease TTL.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 2000,
      // Pings notice a silently dead connection (a partition) on the long-lived streams.
      'grpc.keepalive_time_ms': 10000,
      'grpc.keepalive_timeout_ms': 3000,
    },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + o.callTimeoutMs }),
    faultHandling: { host: () => once, global: once },
  });
}
