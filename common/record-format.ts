// The record's shape and bytes, without zod: the registrar imports this file alone so that it
// never loads zod (about 2 MB resident; test/unit/registrar-bundle.test.ts holds it to that).
// common/record.ts re-exports it beside the zod schema that the renderer validates with.
import { isIP } from 'node:net';
import { RecordError } from './errors.js';

/** Node ids, services and tags: safe as HAProxy names and cookie values, never config text. */
export const NAME_PATTERN = /^[A-Za-z0-9_.-]{1,63}$/;

/** The value stored at `<prefix><service>/<id>`. */
export interface NodeRecord {
  id: string;
  service: string;
  /** An IPv4 or IPv6 literal. */
  address: string;
  /** 1..65535 */
  port: number;
  tag: string;
  /** HAProxy weight, 0..256 */
  weight: number;
  /** `leaving`: a graceful leave, written just before the lease is revoked (out of rotation at once). */
  state: 'up' | 'draining' | 'leaving';
  /** ISO 8601 with an offset or `Z`. */
  registeredAt: string;
}

/** Ensures a prefix ends with exactly one slash: `/nodes` and `/nodes/` mean the same. */
export function normalizePrefix(prefix: string): string {
  return prefix.replace(/\/+$/, '') + '/';
}

/** The key a record lives under. */
export function recordKey(prefix: string, service: string, id: string): string {
  return `${normalizePrefix(prefix)}${service}/${id}`;
}

// The same rule as zod's `.datetime({ offset: true })`, which the renderer applies.
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)$/;

/** Why `r` is not a record a renderer would accept, or undefined when it is. */
function problem(r: NodeRecord): string | undefined {
  for (const k of ['id', 'service', 'tag'] as const) if (!NAME_PATTERN.test(r[k])) return `${k} must match [A-Za-z0-9_.-]{1,63}`;
  if (isIP(r.address) === 0) return 'address must be an IPv4 or IPv6 literal';
  if (!Number.isInteger(r.port) || r.port < 1 || r.port > 65535) return 'port must be an integer from 1 to 65535';
  if (!Number.isInteger(r.weight) || r.weight < 0 || r.weight > 256) return 'weight must be an integer from 0 to 256';
  if (r.state !== 'up' && r.state !== 'draining' && r.state !== 'leaving') return 'state must be "up", "draining" or "leaving"';
  if (!DATETIME.test(r.registeredAt)) return 'registeredAt must be an ISO 8601 date-time';
  return undefined;
}

/**
 * The value a registrar writes: keys in a fixed order, so equal records are equal bytes.
 * @throws RecordError when the record is not one a renderer would accept.
 */
export function formatRecord(r: NodeRecord, key = recordKey('/nodes/', r.service, r.id)): string {
  const why = problem(r);
  if (why) throw new RecordError(key, why);
  return JSON.stringify({
    id: r.id,
    service: r.service,
    address: r.address,
    port: r.port,
    tag: r.tag,
    weight: r.weight,
    state: r.state,
    registeredAt: r.registeredAt,
  });
}
