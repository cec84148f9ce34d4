import { z } from 'zod';
import { NAME_PATTERN, normalizePrefix, parseJson } from './record.js';

/**
 * Operator keys: an operator's say on one node, kept under
 * `OPERATOR_PREFIX` (default `/leasehold/`), never under the nodes prefix, and on no lease: a
 * drain outlives a re-registration of the node and goes only when an operator removes it.
 *
 * - `<prefix>drain/<service>/<id>`  → `{"at":"<ISO time>","by":"<who>"}`: present = drained.
 * - `<prefix>weight/<service>/<id>` → `{"weight":0..256,"at":"<ISO time>","by":"<who>"}`.
 */
export type OperatorKind = 'drain' | 'weight';

export const DEFAULT_OPERATOR_PREFIX = '/leasehold/';

/** Largest operator value, bytes: the same bound as a node record's. */
export const MAX_OPERATOR_VALUE_BYTES = 4096;

// When and by whom: shown by `leasehold status`, not needed to apply the setting (the renderer
// takes any JSON object as a drain, as `etcdctl put` by hand would write it).
const stamp = { at: z.string().optional(), by: z.string().optional() };

/** A drain's value: any JSON object. Unknown fields are tolerated (a newer CLI's). */
export const DrainValueSchema = z.object(stamp).passthrough();
export const WeightValueSchema = z.object({ weight: z.number().int().min(0).max(256), ...stamp }).passthrough();

export type DrainValue = z.infer<typeof DrainValueSchema>;
export type WeightValue = z.infer<typeof WeightValueSchema>;

/** The key of one node's operator setting. */
export function operatorKey(prefix: string, kind: OperatorKind, service: string, id: string): string {
  return `${normalizePrefix(prefix)}${kind}/${service}/${id}`;
}

/** `{kind, service, id}` of an operator key, or undefined for any other key under the prefix. */
export function parseOperatorKey(prefix: string, key: string): { kind: OperatorKind; service: string; id: string } | undefined {
  const p = normalizePrefix(prefix);
  if (!key.startsWith(p)) return undefined;
  const parts = key.slice(p.length).split('/');
  if (parts.length !== 3 || (parts[0] !== 'drain' && parts[0] !== 'weight')) return undefined;
  if (!NAME_PATTERN.test(parts[1]!) || !NAME_PATTERN.test(parts[2]!)) return undefined;
  return { kind: parts[0], service: parts[1]!, id: parts[2]! };
}

/** The value `leasehold drain` writes. */
export function drainValue(at: Date, by: string): string {
  return JSON.stringify({ at: at.toISOString(), by });
}

/** The value `leasehold weight` writes. */
export function weightValue(weight: number, at: Date, by: string): string {
  return JSON.stringify(WeightValueSchema.parse({ weight, at: at.toISOString(), by }));
}

/**
 * Parses an operator value, or says why it is unusable (the renderer ignores and reports such a
 * value; `leasehold status` shows it).
 */
export function parseOperatorValue(kind: 'drain', value: string): { ok: true; value: DrainValue } | { ok: false; reason: string };
export function parseOperatorValue(kind: 'weight', value: string): { ok: true; value: WeightValue } | { ok: false; reason: string };
export function parseOperatorValue(kind: OperatorKind, value: string): { ok: true; value: DrainValue | WeightValue } | { ok: false; reason: string };
export function parseOperatorValue(kind: OperatorKind, value: string): { ok: true; value: DrainValue | WeightValue } | { ok: false; reason: string } {
  if (Buffer.byteLength(value) > MAX_OPERATOR_VALUE_BYTES) return { ok: false, reason: `value is over ${MAX_OPERATOR_VALUE_BYTES} bytes` };
  const parsed = parseJson<DrainValue | WeightValue>(kind === 'drain' ? DrainValueSchema : WeightValueSchema, value);
  return parsed.ok ? { ok: true, value: parsed.value } : parsed;
}
