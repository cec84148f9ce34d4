import type { EventEmitter } from 'node:events';
import { type LeaseholdError, ReloadError, RuntimeError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';
import type { ConfigOutcome, ConfigWriter } from './config-writer.js';
import type { Desired } from './desired.js';
import { desiredServers } from './diff.js';
import type { ReloadCause, RendererEvents, RendererStatus, Stage } from './events.js';
import { nodeChange, slotSummary } from './node-report.js';
import type { Actual } from './observe.js';
import type { Reconciler } from './reconciler.js';
import { type RenderSettings, type Template, structureId } from './render.js';
import type { SlotTable, Structure } from './slots.js';
import type { Outcome } from './work-queue.js';
import type { WorkerReader } from './worker-reader.js';

/** How often a pass looks again at leaving slots whose sessions may have ended, ms. */
const LEAVING_RECHECK_MS = 500;

export interface PassDeps {
  desired: Desired;
  slots: SlotTable;
  reader: WorkerReader;
  reconciler: Reconciler;
  config: ConfigWriter;
  template: Template;
  settings: () => RenderSettings;
  /** Longest a leaving slot waits for its sessions before it may take another node, ms. */
  leaveMaxMs: number;
  /** The quiet time the mirror waits at least, ms (longer for a config slow to check). */
  mirrorDelayMs: number;
  /** The status the pass keeps up to date (shared with the renderer's own fields). */
  status: RendererStatus;
  events: Pick<EventEmitter<RendererEvents>, 'emit'>;
  /** Asks for the mirror (the config on disk follows the slots). */
  mirrorSoon: () => void;
  /** Sets the mirror's quiet time, ms. */
  mirrorDelays: (ms: number) => void;
  /** Asks for another membership pass (records were quarantined). */
  again: () => void;
  /** Monotonic ms. */
  now: () => number;
  /** Milliseconds since the epoch, only for the times `/status` shows. */
  wall: () => number;
}

/**
 * One membership pass, top to bottom: read the worker → take over what it runs (once) → free the
 * leaving slots whose sessions ended → plan the records into slots → reload if the structure
 * changed (the config writer) → set the worker's servers (the reconciler) → report. It returns
 * when it wants to run again; the loop (renderer.ts) decides when it runs. The mirror of the
 * config on disk is here too: it renders the same slots.
 */
export class Pass {
  private adopted = false;
  private liveStructure?: Structure;
  /** The records the last pass served (the mirror's quarantine search starts from them). */
  private lastRecords: NodeRecord[] = [];

  constructor(private readonly d: PassDeps) {}

  async membership(): Promise<Outcome> {
    const { slots, status: st } = this.d;
    let actual = await this.read();
    if (!actual) return { retry: true };
    if (!this.adopted) this.adopt(actual);
    const records = this.d.desired.records();
    // Slots whose leavers' sessions ended are free before new nodes look for one.
    this.freeLeavers(actual);
    slots.plan(records, this.d.now());
    st.duplicates = slots.duplicates;
    for (const e of slots.changes) this.d.events.emit('node', nodeChange(e));

    let retry = false;
    const id = structureId(this.d.template, this.d.settings(), slots.structure());
    st.structureId = id;
    if (!this.runs(actual, id)) {
      st.structureLive = false;
      const applied = await this.applyStructure(id, actual, records);
      retry = applied === 'retry';
      if (applied === 'reloaded') {
        actual = await this.read(true);
        if (!actual) return { retry: true };
        if (!this.runs(actual, id)) {
          const why = actual.structureId === undefined ? 'the config sets no proc.leasehold_structure (a custom template without it?)' : `it runs ${actual.structureId}`;
          this.refuse('verify', new ReloadError(`reloaded for structure ${id}, but ${why}`));
        }
      }
    }
    st.structureLive = this.runs(actual, id);
    if (st.structureLive) {
      this.liveStructure = slots.structure();
      slots.live();
    }

    // Membership goes on while a structural change is refused: servers the worker has are set.
    if (!(await this.reconcile(actual))) retry = true;
    const summary = slotSummary(slots.all());
    [st.slots, st.nodes] = [summary.slots, summary.nodes];
    // A big config takes long to check: the mirror waits long enough not to check all the time.
    this.d.mirrorDelays(Math.max(this.d.mirrorDelayMs, 10 * this.d.config.lastCheckMs));
    this.lastRecords = records;
    if (retry) return { retry: true };
    if (slots.all().some((p) => p.slots.some((x) => x.state === 'leaving'))) return { requeueAfterMs: LEAVING_RECHECK_MS };
  }

  /**
   * Brings the config on disk in line with the slots (no reload), beside membership: a restart
   * comes up the same. Renders the slots as they are when its turn comes.
   */
  async mirror(): Promise<Outcome> {
    const st = this.d.status;
    if (!st.structureLive || !st.structureId || !this.d.reader.last) return;
    const out = await this.d.config.mirror(st.structureId, this.d.slots, this.lastRecords, () => this.serverState(this.d.reader.last!));
    if (out.kind === 'applied') return void this.d.events.emit('mirror', { bytes: out.bytes, checkMs: out.checkMs });
    if (this.configRefused(out)) return { retry: true };
  }

  /** Counts and reports a refusal at `stage`. */
  refuse(stage: Stage, error: LeaseholdError): void {
    this.d.status.refused[stage]++;
    this.d.status.lastError = error.message;
    this.d.events.emit('refused', { stage, error });
  }

  /** The worker, or undefined when HAProxy could not be reached (reported). */
  private async read(whole?: boolean): Promise<Actual | undefined> {
    const out = await this.d.reader.read(whole);
    if (!out.ok) return void this.haproxyIs('unreachable', out.error);
    this.haproxyIs('reachable');
    return out.actual;
  }

  private haproxyIs(state: 'reachable' | 'unreachable', error?: LeaseholdError): void {
    const st = this.d.status;
    const was = st.haproxy;
    st.haproxy = state;
    if (state === 'unreachable') {
      st.converged = false;
      if (was !== 'unreachable') this.refuse('runtime', error ?? new RuntimeError('HAProxy unreachable'));
    }
  }

  /** A restarted renderer takes over what the running worker has: no reload, no flap. */
  private adopt(actual: Actual): void {
    const records = this.d.desired.admitted();
    const inRotation = actual.servers.filter((a) => (a.admin & 0x01) === 0);
    const known = new Set([...records.values()].map((r) => `${r.service}|${r.address}|${r.port}`));
    const matched = inRotation.filter((a) => known.has(`${a.backend}|${a.address}|${a.port}`)).length;
    if (inRotation.length >= 2 && matched * 2 < inRotation.length) {
      // An emptied etcd met at start: keep what HAProxy serves for a while, as for a list.
      const kept = new Map<string, NodeRecord>();
      // Servers that match a record are adopted as that node, not held beside it under the same address.
      for (const a of inRotation) {
        if (known.has(`${a.backend}|${a.address}|${a.port}`)) continue;
        kept.set(`held:${a.backend}/${a.server}`, { id: `${a.server}-held`, service: a.backend, address: a.address, port: a.port, tag: a.server, weight: a.weight, state: 'up', registeredAt: new Date(0).toISOString() });
      }
      this.d.desired.hold(`only ${matched} of the ${inRotation.length} servers HAProxy runs are in etcd`, kept);
    }
    this.d.slots.adopt(actual.servers, this.d.desired.records(), this.d.now());
    this.adopted = true;
    this.d.mirrorSoon();
  }

  /** Whether the worker runs structure `id`: it says so, or it cannot (a template without the variable) and we reloaded it for `id`. */
  private runs(actual: Actual, id: string): boolean {
    return actual.structureId === id || (actual.structureId === undefined && this.d.config.reloadedId === id);
  }

  private serverState(fallback: Actual): Promise<string> {
    return this.d.reader.serverState(fallback, () => desiredServers(this.d.slots.all()));
  }

  // ---- structure: the config writer reloads; the pass reports and decides ----

  /** `reloaded`, `retry` (a refusal that may pass later), or `no` (unchanged, refused by its check, quarantined). */
  private async applyStructure(id: string, actual: Actual, records: NodeRecord[]): Promise<'reloaded' | 'retry' | 'no'> {
    const { slots } = this.d;
    const cause = this.reloadCause();
    const out = await this.d.config.reload(id, slots, records, () => this.serverState(actual));
    if (out.kind !== 'applied') return this.configRefused(out) ? 'retry' : 'no';
    slots.reloaded();
    this.d.status.reloads[cause]++;
    this.d.events.emit('reload', { ...out.result!, cause, structureId: id, slots: slots.all().reduce((n, p) => n + p.slots.length, 0), bytes: out.bytes, checkMs: out.checkMs });
    return 'reloaded';
  }

  /** Reports what the config writer refused; true when trying again later may pass (not its check). */
  private configRefused(out: Exclude<ConfigOutcome, { kind: 'applied' }>): boolean {
    if (out.kind === 'unchanged') return false;
    this.refuse(out.stage, out.error);
    if (out.kind === 'quarantined') {
      this.d.desired.quarantineRecords(out.records);
      this.d.again();
    }
    return out.kind === 'refused' && out.stage !== 'check' && out.stage !== 'render';
  }

  private reloadCause(): ReloadCause {
    const now = this.d.slots.structure();
    const was = this.liveStructure;
    if (!was) return 'config';
    const names = (s: Structure) => s.services.map((x) => x.name).join(',');
    if (names(now) !== names(was)) return 'services';
    return JSON.stringify(now) !== JSON.stringify(was) ? 'pool' : 'config';
  }

  // ---- membership: desired vs actual → commands → read back what was touched → verify ----

  /** False when HAProxy could not be reached or did not converge (the caller retries). */
  private async reconcile(actual: Actual): Promise<boolean> {
    const st = this.d.status;
    const started = this.d.now();
    let out: Awaited<ReturnType<Reconciler['reconcile']>>;
    try {
      out = await this.d.reconciler.reconcile(desiredServers(this.d.slots.all()), actual);
    } catch (err) {
      this.haproxyIs('unreachable', err as RuntimeError);
      return false;
    }
    st.pending = out.missing.filter((d) => d.admin !== 'maint').length + this.d.slots.unplaced;
    for (const x of out.drift) this.d.events.emit('drift', { backend: x.desired.backend, server: x.desired.server, node: x.desired.node, fields: x.fields });
    st.driftRepaired += out.drift.length;
    st.runtime.refusedAnswers += out.refused.length;
    const durationMs = Math.round(this.d.now() - started);
    if (out.differed.length) {
      this.d.events.emit('reconciled', { changed: out.differed.length - out.unconverged.length, drift: out.drift.length, commands: out.commands, refused: out.refused.slice(0, 5), unconverged: out.unconverged.length, durationMs });
      this.d.mirrorSoon();
    }
    st.converged = out.unconverged.length === 0;
    if (out.unconverged.length) {
      const first = out.unconverged[0]!;
      st.lastError = `${out.unconverged.length} server(s) still differ from the store after reconcile, first ${first.desired.backend}/${first.desired.server} (${first.fields.join(',')})`;
    }
    st.reconcile.count++;
    st.reconcile.totalMs += durationMs;
    st.reconcile.lastMs = durationMs;
    st.lastReconcileAt = new Date(this.d.wall()).toISOString();
    return st.converged;
  }

  /**
   * Leaving slots whose sessions ended (or waited `leaveMaxMs`) may take another node; so may one
   * the worker never had (a structural change that was refused or is still to come).
   */
  private freeLeavers(actual: Actual): void {
    const { slots } = this.d;
    // Most passes have no leaver: no map of every server for them (16,384 at the largest).
    const leaving = slots.all().filter((p) => p.slots.some((s) => s.state === 'leaving'));
    if (!leaving.length) return;
    const have = new Map(actual.servers.map((a) => [`${a.backend}/${a.server}`, a]));
    for (const p of leaving) {
      for (const s of p.slots) {
        if (s.state !== 'leaving') continue;
        const key = `${p.service}/${s.name}`;
        const a = have.get(key);
        const drained = a !== undefined && (a.admin & 0x01) !== 0 && actual.sessions.get(key) === 0;
        if (!a || drained || s.leavingSince === undefined || this.d.now() - s.leavingSince >= this.d.leaveMaxMs) {
          slots.free(p.service, s.name);
          this.d.mirrorSoon();
        }
      }
    }
  }
}
