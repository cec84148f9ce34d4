import type { LeaseholdError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import type { Stage } from './events.js';
import type { ReloadResult } from './haproxy.js';
import { isolate } from './isolate.js';
import { type RenderSettings, type Template, render, structureId } from './render.js';
import { type SlotOptions, SlotTable } from './slots.js';
import type { ConfigFiles } from './config-files.js';

/** What a reload or a mirror of the config came to. */
export type ConfigOutcome =
  | { kind: 'applied'; result?: ReloadResult; checkMs: number; bytes: number }
  /** Nothing to write: the text is live already, or was refused and has not changed. */
  | { kind: 'unchanged' }
  | { kind: 'refused'; stage: Stage; error: LeaseholdError }
  /** `haproxy -c` refused the config for these records' server lines: keep them out until they change. */
  | { kind: 'quarantined'; stage: Stage; error: LeaseholdError; records: NodeRecord[] };

export interface ConfigWriterDeps {
  files: Pick<ConfigFiles, 'reload' | 'mirror' | 'accepts'>;
  template: Template;
  settings: () => RenderSettings;
  slotOptions: SlotOptions;
  /** A refused structure is not tried again for this long unless its text changes, ms. */
  refusalMemoryMs: number;
  /** Monotonic ms. */
  now: () => number;
}

/**
 * The config-file path: render → skip if refused → stage → `haproxy -c` → rename → reload (or
 * not, for a mirror); a check refusal is bisected to the records it is due to. One write at a
 * time. It returns what happened and never calls back into the loop: the loop decides.
 */
export class ConfigWriter {
  /** The text last made live, and the last one `haproxy -c` refused. */
  private written?: string;
  private lastRefused?: string;
  private refusedId?: string;
  private refusedAt = 0;
  /** The structure HAProxy was last reloaded for (a template without the variable cannot say). */
  reloadedId?: string;
  /** How long the last `haproxy -c` took, ms (a big config waits longer between mirrors). */
  lastCheckMs = 0;
  private lane: Promise<unknown> = Promise.resolve();

  constructor(private readonly d: ConfigWriterDeps) {}

  /** The config for structure `id` with these slots, or a render refusal. */
  render(id: string, slots: SlotTable): string | { kind: 'refused'; stage: 'render'; error: LeaseholdError } {
    try {
      return render(this.d.template, slots.all(), this.d.settings(), id);
    } catch (err) {
      return { kind: 'refused', stage: 'render', error: err as LeaseholdError };
    }
  }

  /** Makes structure `id` live and reloads HAProxy onto it. `state`: the servers' state to carry over. */
  async reload(id: string, slots: SlotTable, records: NodeRecord[], state: () => Promise<string>): Promise<ConfigOutcome> {
    const text = this.render(id, slots);
    if (typeof text !== 'string') return text;
    // A refused structure is not tried again until it changes or a while passes, or every
    // membership change would repeat the refusal (and its log line).
    if (text === this.lastRefused || (id === this.refusedId && this.d.now() - this.refusedAt < this.d.refusalMemoryMs)) return { kind: 'unchanged' };
    const out = await this.inLane(async () => this.d.files.reload(text, await state()));
    if (!out.ok) {
      [this.refusedId, this.refusedAt] = [id, this.d.now()];
      return this.refusal(text, out.stage, out.error, records);
    }
    this.accepted(text, out.checkMs);
    this.reloadedId = id;
    return { kind: 'applied', result: out.result, checkMs: out.checkMs, bytes: out.bytes };
  }

  /** Brings the file on disk in line with the slots, no reload (a restart comes up the same). */
  async mirror(id: string, slots: SlotTable, records: NodeRecord[], state: () => Promise<string>): Promise<ConfigOutcome> {
    return this.inLane(async () => {
      const text = this.render(id, slots);
      if (typeof text !== 'string') return text;
      if (text === this.written || text === this.lastRefused) return { kind: 'unchanged' };
      const out = await this.d.files.mirror(text, await state());
      if (!out.ok) return this.refusal(text, out.stage, out.error, records, false);
      this.accepted(text, out.checkMs);
      return { kind: 'applied', checkMs: out.checkMs, bytes: out.bytes };
    });
  }

  /** Waits for the write under way. */
  async settled(): Promise<void> {
    await this.lane;
  }

  private accepted(text: string, checkMs: number): void {
    this.written = text;
    this.lastCheckMs = checkMs;
    this.lastRefused = this.refusedId = undefined;
  }

  private async refusal(text: string, stage: Stage, error: LeaseholdError, records: NodeRecord[], inLane = true): Promise<ConfigOutcome> {
    if (stage !== 'check') return { kind: 'refused', stage, error };
    this.lastRefused = text;
    const culprits = await (inLane ? this.inLane(() => this.culprits(records)) : this.culprits(records));
    if (!culprits.length) return { kind: 'refused', stage, error };
    // The records go; the rest of the config may pass now.
    this.lastRefused = this.refusedId = undefined;
    return { kind: 'quarantined', stage, error, records: culprits };
  }

  /**
   * The records whose server lines `haproxy -c` refuses (bisecting). None when even no record at
   * all is refused (the template or the settings are at fault), or a record is refused only in
   * company (too many for the template, say: the refusal is the structure's, and it stands).
   */
  private async culprits(records: NodeRecord[]): Promise<NodeRecord[]> {
    const accepts = async (subset: NodeRecord[]) => {
      const t = new SlotTable(this.d.slotOptions);
      t.plan(subset, this.d.now());
      const text = this.render(structureId(this.d.template, this.d.settings(), t.structure()), t);
      return typeof text === 'string' && this.d.files.accepts(text);
    };
    const found = await isolate(records, accepts);
    const out: NodeRecord[] = [];
    for (const r of found ?? []) if (!(await accepts([r]))) out.push(r);
    return out;
  }

  private inLane<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lane.then(fn);
    this.lane = run.catch(() => undefined);
    return run;
  }
}
