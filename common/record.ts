import { isIP } from 'node:net';
import { z } from 'zod';
import { NAME_PATTERN, type NodeRecord, normalizePrefix } from './record-format.js';

export { NAME_PATTERN, type NodeRecord, normalizePrefix, recordKey } from './record-format.js';

const name = z.string().regex(NAME_PATTERN, 'must match [A-Za-z0-9_.-]{1,63}');

/**
 * The value stored at `<prefix><service>/<id>`: one JSON object, validated on both sides.
 * Unknown fields are dropped, not refused: a newer registrar never drops out of an older renderer.
 */
export const NodeRecordSchema = z.object({
  id: name,
  service: name,
  address: z.string().refine((a) => isIP(a) !== 0, 'must be an IPv4 or IPv6 literal'),
  port: z.number().int().min(1).max(65535),
  tag: name,
  weight: z.number().int().min(0).max(256),
  state: z.enum(['up', 'draining', 'leaving']),
  registeredAt: z.string().datetime({ offset: true }),
}) satisfies z.ZodType<NodeRecord>;

// The one parse of a record, for the renderer (common/admission.ts, which adds its own rules) and
// the CLI (cli/report.ts): in two steps, as admission checks the key before it reads the value.

/** The service and id of a record's key `<prefix><service>/<id>`, or why it is not one. */
export function parseRecordKey(prefix: string, key: string): { ok: true; service: string; id: string } | { ok: false; reason: string } {
  const p = normalizePrefix(prefix);
  if (!key.startsWith(p)) return { ok: false, reason: `key is outside ${p}` };
  const parts = key.slice(p.length).split('/');
  if (parts.length !== 2 || !NAME_PATTERN.test(parts[0]!) || !NAME_PATTERN.test(parts[1]!)) {
    return { ok: false, reason: `key must be ${p}<service>/<id> with names matching ${NAME_PATTERN.source}` };
  }
  return { ok: true, service: parts[0]!, id: parts[1]! };
}

/**
 * The record in `value`, which must be JSON, valid, and name the service and id of its key;
 * or why not (the first few problems). `unknownFields`: fields this version does not know.
 */
export function parseRecordValue(
  service: string,
  id: string,
  value: string,
): { ok: true; record: NodeRecord; unknownFields: string[] } | { ok: false; reason: string } {
  const parsed = parseJson(NodeRecordSchema, value);
  if (!parsed.ok) return parsed;
  const { value: record, json } = parsed;
  if (record.service !== service) return { ok: false, reason: `service "${record.service}" does not match the key` };
  if (record.id !== id) return { ok: false, reason: `id "${record.id}" does not match the key` };
  const unknownFields = json && typeof json === 'object' ? Object.keys(json).filter((k) => !(k in NodeRecordSchema.shape)) : [];
  return { ok: true, record, unknownFields };
}

/** `value` as JSON checked by `schema`, or why not: "not JSON", or its first three problems. */
export function parseJson<T>(schema: z.ZodType<T, z.ZodTypeDef, unknown>, value: string): { ok: true; value: T; json: unknown } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'value is not JSON' };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) return { ok: false, reason: parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || 'value'} ${i.message}`).join('; ') };
  return { ok: true, value: parsed.data, json };
}

/** Both steps: the record at `key`, or why not. */
export function parseRecord(prefix: string, key: string, value: string): ReturnType<typeof parseRecordValue> {
  const k = parseRecordKey(prefix, key);
  return k.ok ? parseRecordValue(k.service, k.id, value) : k;
}
