import { OptionError } from './errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

/** A string option; empty counts as unset. */
export function str(env: Env, name: string, fallback: string): string {
  const v = env[name];
  return v === undefined || v.trim() === '' ? fallback : v.trim();
}

/** An integer option within [min, max]. */
export function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new OptionError(`${name}=${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  }
  return n;
}

/** A comma-separated list option. */
export function list(env: Env, name: string, fallback: string[]): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

/** One of a fixed set of words. */
export function oneOf<const T extends string>(env: Env, name: string, words: readonly T[], fallback: T): T {
  const v = str(env, name, fallback);
  if (!(words as readonly string[]).includes(v)) throw new OptionError(`${name}=${JSON.stringify(v)}: expected one of ${words.join(', ')}`);
  return v as T;
}
