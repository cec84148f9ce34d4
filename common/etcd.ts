import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions } from 'etcd3';
import type { EtcdOptions } from './etcd-options.js';

export { type EtcdOptions, etcdOptionsFromEnv } from './etcd-options.js';

type Policy = NonNullable<NonNullable<IOptions['faultHandling']>['global']>;

/**
 * Runs each call once: no retry, no circuit breaker (etcd3 only ever calls `execute`). Async, so
 * a call that throws becomes a rejected promise, as etcd3 expects.
 */
const once = {
  execute: async (fn: (context: { signal: AbortSignal }) => unknown, signal?: AbortSignal) => fn({ signal: signal ?? new AbortController().signal }),
} as unknown as Policy;

/**
 * The renderer's etcd client (gRPC; the registrar uses etcd-gateway.ts). Its calls fail fast:
 * the renderer retries on its own schedule (re-list with jittered backoff), so the library's own
 * retries and circuit breaker would only add delay. TLS files are read once, here.
 */
export function createEtcdClient(o: EtcdOptions): Etcd3 {
  const read = (f?: string) => (f ? readFileSync(f) : undefined);
  const credentials = o.tls && { rootCertificate: read(o.tls.caFile)!, privateKey: read(o.tls.keyFile), certChain: read(o.tls.certFile) };
  return new Etcd3({
    hosts: o.endpoints,
    ...(credentials && { credentials }),
    ...(o.auth && { auth: { username: o.auth.username, password: o.auth.password } }),
    dialTimeout: o.dialTimeoutMs,
    grpcOptions: {
      // gRPC's default reconnect backoff grows to two minutes: far longer than a lease TTL.
      'grpc.initial_reconnect_backoff_ms': 250,
      'grpc.max_reconnect_backoff_ms': 2000,
      // Pings notice a silently dead connection (a partition) on the long-lived streams.
      'grpc.keepalive_time_ms': 10000,
      'grpc.keepalive_timeout_ms': 3000,
    },
    // gRPC takes only a deadline on the wall clock, and turns it into a timer as the call starts:
    // etcd3 asks for it right before, in the same tick, so a wall-clock step cannot stretch it.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + o.callTimeoutMs }),
    faultHandling: { host: () => once, global: once },
  });
}
