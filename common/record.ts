import { isIP } from 'node:net';
import { z } from 'zod';
import { RecordError } from './errors.js';
import { NAME_PATTERN, type NodeRecord, formatRecord, normalizePrefix } from './record-format.js';

export { NAME_PATTERN, type NodeRecord, normalizePrefix, recordKey } from './record-format.js';

const name = z.string().regex(NAME_PATTERN, 'must match [A-Za-z0-9_.-]{1,63}');

/** The value stored at `<prefix><service>/<id>`: one JSON object, validated on both sides. */
export const NodeRecordSchema = z
  .object({
    id: name,
    service: name,
    address: z.string().refine((a) => isIP(a) !== 0, 'must be an IPv4 or IPv6 literal'),
    port: z.number().int().min(1).max(65535),
    tag: name,
    weight: z.number().int().min(0).max(256),
    state: z.enum(['up', 'draining', 'leaving']),
    registeredAt: z.string().datetime({ offset: true }),
  })
  .strict() satisfies z.ZodType<NodeRecord>;

/**
 * Parses and validates the value found at `key`. The key must be `<prefix><service>/<id>`
 * and agree with the record's own service and id.
 * @throws RecordError naming the key and the reason.
 */
export function parseRecord(prefix: string, key: string, value: string): NodeRecord {
  const p = normalizePrefix(prefix);
  if (!key.startsWith(p)) throw new RecordError(key, `key is outside ${p}`);
  const parts = key.slice(p.length).split('/');
  if (parts.length !== 2 || !NAME_PATTERN.test(parts[0]!) || !NAME_PATTERN.test(parts[1]!)) {
    throw new RecordError(key, `key must be ${p}<service>/<id> with names matching ${NAME_PATTERN.source}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new RecordError(key, 'value is not JSON');
  }
  const parsed = NodeRecordSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'value'} ${i.message}`);
    throw new RecordError(key, issues.join('; '));
  }
  const [service, id] = parts as [string, string];
  if (parsed.data.service !== service) throw new RecordError(key, `service "${parsed.data.service}" does not match the key`);
  if (parsed.data.id !== id) throw new RecordError(key, `id "${parsed.data.id}" does not match the key`);
  return parsed.data;
}

/** The value a registrar writes (see formatRecord), after the renderer's own validation. */
export function serializeRecord(record: NodeRecord): string {
  return formatRecord(NodeRecordSchema.parse(record));
}
