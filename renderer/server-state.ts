import type { NodeRecord } from '../common/record.js';

/**
 * Filters a worker's `show servers state` down to the servers the next config keeps at the same
 * address and port, for `load-server-state-from-file`. HAProxy then starts a reloaded worker
 * with the health it had observed (a server found dead stays down), instead of assuming every
 * server is up. Servers that moved are dropped: HAProxy would take the old port from the file.
 */
export function carryServerState(dump: string, next: NodeRecord[]): string {
  const keep = new Map(next.map((r) => [`${r.service}/${r.id}`, `${r.address} ${r.port}`]));
  const lines = dump.split('\n');
  const out = lines.filter((l) => /^\d+$/.test(l.trim()) || l.startsWith('#'));
  for (const line of lines) {
    if (!line || line.startsWith('#') || /^\d+$/.test(line.trim())) continue;
    // be_id be_name srv_id srv_name srv_addr ... srv_port is the 19th field.
    const f = line.split(' ');
    if (f.length >= 19 && keep.get(`${f[1]}/${f[3]}`) === `${f[4]} ${f[18]}`) out.push(line);
  }
  return out.join('\n') + '\n';
}
