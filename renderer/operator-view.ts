import { RecordError } from '../common/errors.js';
import { type WeightValue, parseOperatorKey, parseOperatorValue } from '../common/operator.js';
import { normalizePrefix } from '../common/record.js';
import type { Override } from '../common/status.js';
import type { KV, WatchEvent } from '../common/store.js';

export type { Override } from '../common/status.js';

/**
 * The operator keys (common/operator.ts): `drain/<service>/<id>` (present means drained) and
 * `weight/<service>/<id>` (`{"weight": 0..256}`). Independent of the node's own key
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

  private put(key: string, value: string): void {
    const k = parseOperatorKey(this.prefix, key);
    if (!k) return; // other keys under the prefix are not ours to judge
    this.remove(key);
    const node = `${k.service}/${k.id}`;
    const parsed = parseOperatorValue(k.kind, value);
    if (!parsed.ok) {
      this.errors.set(key, new RecordError(key.slice(0, 200), `operator ${k.kind}: ${parsed.reason}`));
      return;
    }
    if (k.kind === 'drain') this.drains.add(node);
    else this.weights.set(node, (parsed.value as WeightValue).weight);
  }

  private remove(key: string): void {
    const k = parseOperatorKey(this.prefix, key);
    if (!k) return;
    this.errors.delete(key);
    const node = `${k.service}/${k.id}`;
    if (k.kind === 'drain') this.drains.delete(node);
    else this.weights.delete(node);
  }
}
