// Records the benchmark writes itself, in place of registrars.
import type { TestEtcd } from '../../harness/etcd.js';

export interface RecordFields {
  address?: string;
  port?: number;
  weight?: number;
  /** `leaving`: a graceful leave's mark, put before the delete as the registrar does. */
  state?: 'up' | 'leaving';
}

export const key = (id: string) => `/nodes/webapp/${id}`;

export function record(id: string, f: RecordFields = {}): string {
  return JSON.stringify({ id, service: 'webapp', address: f.address ?? '127.0.0.1', port: f.port ?? 9, tag: id, weight: f.weight ?? 1, state: f.state ?? 'up', registeredAt: new Date().toISOString() });
}

/**
 * Node `n<i>` of a large pool: a loopback address of its own with nothing listening on port 9,
 * so its health checks fail at once (a refused connect) and cost HAProxy little. Which node is
 * healthy does not matter to the figures taken with them: only what the worker is told.
 */
export const synthetic = (i: number, weight = 1) => record(`n${i}`, { ...syntheticAddress(i), weight });

/** Node n<i>'s own loopback address, port 9 (discard: nothing listens there). */
export const syntheticAddress = (i: number) => ({ address: `127.${1 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, port: 9 });

/** Puts nodes n<from>..n<to-1>, 200 at a time. */
export async function putSynthetic(etcd: TestEtcd, from: number, to: number): Promise<void> {
  for (let i = from; i < to; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, to - i) }, (_, k) => etcd.putLeased(key(`n${i + k}`), synthetic(i + k))));
  }
}
