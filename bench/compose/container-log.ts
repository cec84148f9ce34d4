// A container's JSON log lines since a moment, read once (a restarted container's new lines are
// not in a follow started before it stopped).
import type Docker from 'dockerode';

export interface Logged {
  at: number;
  e: Record<string, any>;
}

export async function loggedSince(container: Docker.Container, sinceMs: number): Promise<Logged[]> {
  const raw = (await container.logs({ stdout: true, stderr: true, follow: false, since: Math.floor(sinceMs / 1000) - 1 })) as unknown as Buffer;
  const out: Logged[] = [];
  for (const line of demux(raw).split('\n')) {
    const i = line.indexOf('{');
    if (i < 0) continue;
    try {
      const e = JSON.parse(line.slice(i));
      if (typeof e.time === 'string') out.push({ at: Date.parse(e.time), e });
    } catch {
      // not a JSON line
    }
  }
  return out;
}

/** Docker's multiplexed log stream (no TTY): 8-byte frame headers, the size in bytes 4-7. */
export function demux(buf: Buffer): string {
  let text = '';
  for (let i = 0; i + 8 <= buf.length; ) {
    const size = buf.readUInt32BE(i + 4);
    text += buf.subarray(i + 8, i + 8 + size).toString('utf8');
    i += 8 + size;
  }
  return text;
}

/** ms from t0 to the first line at or after it that `is` picks. */
export function firstAfter(lines: Logged[], t0: number, is: (e: Record<string, any>) => boolean): number | undefined {
  const x = lines.find((l) => l.at >= Math.floor(t0) && is(l.e));
  return x && x.at - t0;
}
