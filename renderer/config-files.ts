import { readFile, rename, unlink } from 'node:fs/promises';
import { type ConfigCheckError, type LeaseholdError, WriteError } from '../common/errors.js';
import type { ReloadResult, StructureStage } from '../common/status.js';
import { writeAtomically, writeDurably } from './files.js';
import type { Haproxy } from './haproxy.js';

export type { StructureStage } from '../common/status.js';

export type ConfigFilesOutcome =
  | { ok: true; result?: ReloadResult; checkMs: number; bytes: number }
  | { ok: false; stage: StructureStage; error: LeaseholdError };

export interface ConfigFilesConfig {
  configPath: string;
  stateFile: string;
}

/**
 * The config files and what HAProxy does with them: stage → state file → `haproxy -c` → rename
 * → (reload → verified by `show proc`). A refusal at any step leaves the live file as HAProxy
 * runs it; a refused reload puts the previous file back.
 */
export class ConfigFiles {
  constructor(
    private readonly c: ConfigFilesConfig,
    private readonly haproxy: Pick<Haproxy, 'check' | 'reload'>,
    /** Monotonic ms (durations). */
    private readonly now: () => number,
  ) {}

  private get staged(): string {
    return `${this.c.configPath}.staged`;
  }

  /** Makes `text` the live config and reloads HAProxy onto it. */
  async reload(text: string, state: string): Promise<ConfigFilesOutcome> {
    const checked = await this.stageAndCheck(text, state);
    if (!checked.ok) return checked;
    const previous = await readFile(this.c.configPath, 'utf8').catch(() => undefined);
    const renamed = await this.swap();
    if (renamed) return renamed;
    try {
      return { ...checked, result: await this.haproxy.reload() };
    } catch (err) {
      // HAProxy kept its running config: put that back on disk too.
      if (previous !== undefined) await writeAtomically(this.c.configPath, previous, `${this.c.configPath}.restore`).catch(() => undefined);
      return { ok: false, stage: 'reload', error: err as LeaseholdError };
    }
  }

  /** Makes `text` the live config without a reload (membership moved: the file follows). */
  async mirror(text: string, state: string): Promise<ConfigFilesOutcome> {
    const checked = await this.stageAndCheck(text, state);
    if (!checked.ok) return checked;
    return (await this.swap()) ?? checked;
  }

  /** Whether HAProxy accepts `text` (to find the records a refusal is due to). */
  async accepts(text: string): Promise<boolean> {
    const probe = `${this.c.configPath}.probe`;
    try {
      await writeDurably(probe, text);
      await this.haproxy.check(probe);
      return true;
    } catch {
      return false;
    } finally {
      await unlink(probe).catch(() => undefined);
    }
  }

  private async stageAndCheck(text: string, state: string): Promise<ConfigFilesOutcome> {
    try {
      await writeDurably(this.staged, text);
      // Before the check, so the file the config names exists when HAProxy reads it.
      await writeAtomically(this.c.stateFile, state);
    } catch (err) {
      return { ok: false, stage: 'write', error: err as WriteError };
    }
    const started = this.now();
    try {
      await this.haproxy.check(this.staged);
      return { ok: true, checkMs: Math.round(this.now() - started), bytes: Buffer.byteLength(text) };
    } catch (err) {
      await unlink(this.staged).catch(() => undefined);
      return { ok: false, stage: 'check', error: err as ConfigCheckError };
    }
  }

  private async swap(): Promise<ConfigFilesOutcome | undefined> {
    try {
      await rename(this.staged, this.c.configPath);
      return undefined;
    } catch (err) {
      return { ok: false, stage: 'write', error: new WriteError(`renaming ${this.staged} failed: ${(err as Error).message}`, { cause: err }) };
    }
  }
}
