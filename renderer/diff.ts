import { canonicalIp } from '../common/address.js';
import { type ActualServer, type Pool, inDrain, inMaint } from './slots.js';

/** What one server of the running worker should be. */
export interface DesiredServer {
  backend: string;
  server: string;
  admin: 'ready' | 'drain' | 'maint';
  /** The node in the slot, for logs and status (ready and drain only). */
  node?: string;
  address?: string;
  port?: number;
  weight?: number;
}

/** One server that differs, with the commands that put it right. */
export interface Difference {
  desired: DesiredServer;
  actual: ActualServer;
  /** What differs: `admin`, `addr`, `weight`. */
  fields: string[];
  commands: string[];
}

export interface Diff {
  differences: Difference[];
  /** Desired servers the running worker does not have (a structural change not yet live). */
  missing: DesiredServer[];
}

/** The servers every pool asks for: nodes in rotation or draining, every other slot in maintenance. */
export function desiredServers(pools: Pool[]): DesiredServer[] {
  const out: DesiredServer[] = [];
  for (const p of pools) {
    for (const s of p.slots) {
      if ((s.state === 'ready' || s.state === 'drain') && s.node) {
        const { id, address, port, weight } = s.node;
        out.push({ backend: p.service, server: s.name, admin: s.state, node: id, address, port, weight });
      } else {
        out.push({ backend: p.service, server: s.name, admin: 'maint' });
      }
    }
  }
  return out;
}

/**
 * Desired against actual, server by server. A server the worker runs that no pool wants (a pool
 * shrunk or a service gone while the structural change waits) is put in maintenance too.
 * A new address is set while the server is out of rotation, and alone: weight and state follow
 * in the next round, once a re-read shows HAProxy took the address. A refused address (HAProxy
 * answers `Invalid addr`) thus leaves the server in maintenance, never in rotation at the
 * previous node's address. (`afterAddress` sends them in the same reconcile once HAProxy's own
 * answer says it took the address.) Going out of rotation is a single command.
 */
export function diff(desired: DesiredServer[], actual: ActualServer[]): Diff {
  const differences: Difference[] = [];
  // Both usually list the same servers in the same order (the pools, as the config declares
  // them): paired by position, a pass at 16,384 slots builds no maps and no keys.
  if (desired.length === actual.length && desired.every((d, i) => d.server === actual[i]!.server && d.backend === actual[i]!.backend)) {
    for (let i = 0; i < actual.length; i++) {
      const x = difference(desired[i]!, actual[i]!);
      if (x) differences.push(x);
    }
    return { differences, missing: [] };
  }
  const want = new Map(desired.map((d) => [`${d.backend}/${d.server}`, d]));
  const have = new Map(actual.map((a) => [`${a.backend}/${a.server}`, a]));
  const missing = desired.filter((d) => !have.has(`${d.backend}/${d.server}`));
  for (const [key, a] of have) {
    const x = difference(want.get(key) ?? { backend: a.backend, server: a.server, admin: 'maint' }, a);
    if (x) differences.push(x);
  }
  return { differences, missing };
}

/** One server: what differs and the commands that put it right, or undefined when nothing does. */
function difference(d: DesiredServer, a: ActualServer): Difference | undefined {
  const name = `${a.backend}/${a.server}`;
  const forcedMaint = (a.admin & 0x01) !== 0;
  if (d.admin === 'maint') {
    // Only the forced bit counts: the `disabled` config bit alone does not keep a server out.
    return forcedMaint ? undefined : { desired: d, actual: a, fields: ['admin'], commands: [`set server ${name} state maint`] };
  }
  if (!sameAddress(d.address!, a.address) || d.port !== a.port) {
    const addr = `set server ${name} addr ${d.address} port ${d.port}`;
    return { desired: d, actual: a, fields: ['addr'], commands: forcedMaint ? [addr] : [`set server ${name} state maint`, addr] };
  }
  const weight = d.weight !== a.weight;
  const wrong = d.admin === 'ready' ? inMaint(a.admin) || inDrain(a.admin) : inMaint(a.admin) || !inDrain(a.admin);
  if (!weight && !wrong) return undefined;
  const fields: string[] = [];
  const commands: string[] = [];
  if (weight) {
    fields.push('weight');
    commands.push(`set server ${name} weight ${d.weight}`);
  }
  if (wrong) {
    fields.push('admin');
    commands.push(`set server ${name} state ${d.admin}`);
  }
  return { desired: d, actual: a, fields, commands };
}

/** Two spellings of one IP address (the string compare first: at 16,384 slots it is the common case). */
export const sameAddress = (a: string, b: string): boolean => a === b || canonicalIp(a) === canonicalIp(b);

/** An answer to a `set server` command that reports a failure (success is empty or a notice). */
export function refusedAnswer(answer: string): boolean {
  return answer !== '' && !/no need to change|changed from|^nothing changed\s*$/i.test(answer);
}

/**
 * Whether HAProxy's answer to `set server … addr A port P` says it now has exactly `address`:
 * `port`, and nothing else. HAProxy 2.6 names both ("IP changed from 'a' to 'b', no need to
 * change the port by '…'"); 3.0 names only what changed, or says "nothing changed". Other answers
 * can start the same way ("no need to change the addr, can't change <port> …"): not taken.
 */
export function tookAddress(answer: string, address: string, port: number): boolean {
  if (/^nothing changed\s*$/.test(answer)) return true;
  const by = /^(.+) by '[^']*'\s*$/.exec(answer);
  if (!by) return false;
  return by[1]!.split(', ').every((part) => {
    const ip = /^IP changed from '[^']*' to '([^']*)'$/.exec(part);
    const p = /^port changed from '[^']*' to '(\d+)'$/.exec(part);
    return ip ? sameAddress(ip[1]!, address) : p ? Number(p[1]) === port : /^no need to change the (addr|port)$/.test(part);
  });
}

/**
 * The commands that follow a new address once HAProxy answered that it took it (weight, state):
 * the server as it now is (the address set, in forced maintenance from the same batch) against
 * what it should be. Empty unless every command of `x` was answered as taken.
 */
export function afterAddress(x: Difference, answers: string[]): string[] {
  const { address, port } = x.desired;
  if (!x.fields.includes('addr') || address === undefined || port === undefined) return [];
  const at = x.commands.findIndex((c) => / addr /.test(c));
  if (answers.some(refusedAnswer) || !tookAddress(answers[at] ?? '', address, port)) return [];
  const now = { ...x.actual, address, port, admin: x.actual.admin | 0x01 };
  return diff([x.desired], [now]).differences[0]?.commands ?? [];
}

/** A desired server's identity and settings: equal fingerprints ask the same of HAProxy. */
export function fingerprint(d: DesiredServer): string {
  return d.admin === 'maint' ? 'maint' : `${d.admin} ${d.node} ${d.address} ${d.port} ${d.weight}`;
}
