import { Etcd3 } from 'etcd3';
import { noop } from 'cockatiel';
import type { EtcdOptions } from './etcd-options.js';

export { type EtcdOptions, etcdOptionsFromEnv } from './etcd-options.js';

/**
 * The renderer's etcd client (gRPC; the registrar uses etcd-gateway.ts). Its calls fail fast:
 * the renderer retries on its own schedule (p-retry, re-list), so the library's own retries and
 * circuit breaker would only add delay. It does not use `tls` and `auth` yet.
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
    faultHandling: { host: () => noop, global: noop },
  });
}
