import { open, rename } from 'node:fs/promises';
import { WriteError } from '../common/errors.js';

/**
 * Writes `text` to `tmp`, flushes it to disk, then renames it over `path`: a crash or power
 * loss leaves either the old file or the new one, never a torn one.
 * @throws WriteError naming the file and the system's reason (EACCES, ENOSPC, ...).
 */
export async function writeAtomically(path: string, text: string, tmp = `${path}.tmp`): Promise<void> {
  await writeDurably(tmp, text);
  try {
    await rename(tmp, path);
  } catch (err) {
    throw new WriteError(`renaming ${tmp} to ${path} failed: ${(err as Error).message}`, { cause: err });
  }
}

/** Writes and fsyncs `path`. @throws WriteError */
export async function writeDurably(path: string, text: string): Promise<void> {
  try {
    const f = await open(path, 'w', 0o644);
    try {
      await f.writeFile(text);
      await f.sync();
    } finally {
      await f.close();
    }
  } catch (err) {
    throw new WriteError(`writing ${path} failed: ${(err as Error).message}`, { cause: err });
  }
}
