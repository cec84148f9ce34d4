import { RecordError } from '../common/errors.js';
import { NAME_PATTERN, normalizePrefix } from '../common/record.js';
import type { KV, WatchEvent } from './store.js';

/** An operator's say on one node: drained (no new sessions), and/or a weight over the registrar's. */
export interface Override {
  drained?: boolean;
  weight?: number;
}

/**
 * The operator keys under `/leasehold/`: `drain/<service>/<id>` (any JSON object: present means
 * drained) and `weight/<service>/<id>` (`{"weight": 0..256}`). Independent of the node's own key
 * and lease, so a drain outlives a re-registration and goes only when an operator removes it.
 */
export class OperatorView {
  private readonly drains = new Set<string>();
  private readonly weights = new Map<string, number>();
  private readonly errors = new Map<string, RecordError>();

  constructor(private readonly prefix: string) {
    this.prefix = normalizePrefix(prefix);
  }

  reset(kvs: KV[]): void {
    this.drains.clear();
    this.weights.clear();
    this.errors.clear();
    for (const kv of kvs) this.put(kv.key, kv.value);
  }

  apply(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'put') this.put(e.key, e.value);
      else this.remove(e.key);
    }
  }

  /** The override of node `service/id`, if any. */
  get(service: string, id: string): Override | undefined {
    const node = `${service}/${id}`;
    const drained = this.drains.has(node);
    const weight = this.weights.get(node);
    return drained || weight !== undefined ? { ...(drained && { drained }), ...(weight !== undefined && { weight }) } : undefined;
  }

  /** Every override, by `service/id`. */
  all(): Map<string, Override> {
    const out = new Map<string, Override>();
    for (const node of new Set([...this.drains, ...this.weights.keys()])) {
      const [service, id] = node.split('/') as [string, string];
      out.set(node, this.get(service, id)!);
    }
    return out;
  }

  rejected(): RecordError[] {
    return [...this.errors.values()];
  }

  private parse(key: string): { kind: 'drain' | 'weight'; node: string } | undefined {
    const parts = key.slice(this.prefix.length).split('/');
    if (!key.startsWith(this.prefix) || parts.length !== 3 || (parts[0] !== 'drain' && parts[0] !== 'weight')) return undefined;
    if (!NAME_PATTERN.test(parts[1]!) || !NAME_PATTERN.test(parts[2]!)) return undefined;
    return { kind: parts[0], node: `${parts[1]}/${parts[2]}` };
  }

  private put(key: string, value: string): void {
    const k = this.parse(key);
    if (!k) return; // other keys under /leasehold/ are not ours to judge
    this.remove(key);
    let v: unknown;
    try {
      v = value.length <= 4096 ? JSON.parse(value) : undefined;
    } catch {
      v = undefined;
    }
    if (!v || typeof v !== 'object') {
      this.errors.set(key, new RecordError(key.slice(0, 200), 'operator key: the value must be a JSON object of at most 4 KiB'));
      return;
    }
    if (k.kind === 'drain') {
      this.drains.add(k.node);
      return;
    }
    const w = (v as { weight?: unknown }).weight;
    if (typeof w !== 'number' || !Number.isInteger(w) || w < 0 || w > 256) {
      this.errors.set(key, new RecordError(key.slice(0, 200), 'operator weight: "weight" must be an integer from 0 to 256'));
      return;
    }
    this.weights.set(k.node, w);
  }

  private remove(key: string): void {
    const k = this.parse(key);
    if (!k) return;
    this.errors.delete(key);
    if (k.kind === 'drain') this.drains.delete(k.node);
    else this.weights.delete(k.node);
  }
}
