import { type DesiredServer, sameAddress } from './diff.js';

/**
 * The server-state file for the next worker (`load-server-state-from-file`), from the running
 * worker's `show servers state`. Only servers that keep the same node at the same address and
 * port are carried, so the next worker starts with the health its predecessor observed (a server
 * found dead stays down) instead of assuming every server is up. Their admin state and weight
 * are written as desired, never copied: a stray maintenance or drain must not outlive a reload.
 */
export function carryServerState(dump: string, desired: DesiredServer[]): string {
  const keep = new Map<string, DesiredServer>();
  for (const d of desired) if (d.admin !== 'maint') keep.set(`${d.backend}/${d.server}`, d);
  const lines = dump.split('\n');
  const out = lines.filter((l) => /^\d+$/.test(l.trim()) || l.startsWith('#'));
  for (const line of lines) {
    if (!line || line.startsWith('#') || /^\d+$/.test(line.trim())) continue;
    // be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight ... srv_port (19th)
    const f = line.split(' ');
    const d = f.length >= 19 ? keep.get(`${f[1]}/${f[3]}`) : undefined;
    if (!d || !sameAddress(d.address!, f[4]!) || String(d.port) !== f[18]) continue;
    f[6] = d.admin === 'drain' ? '8' : '0';
    f[7] = String(d.weight);
    // The initial weight is the config's, which renders a draining server with weight 0:
    // HAProxy ignores a carried weight whose initial weight differs.
    f[8] = String(d.admin === 'drain' ? 0 : d.weight);
    out.push(f.join(' '));
  }
  return out.join('\n') + '\n';
}
