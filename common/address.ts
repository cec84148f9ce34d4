import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { AddressError } from './errors.js';

/** A host's interfaces and their addresses, as `os.networkInterfaces()` lists them. */
export type Interfaces = ReturnType<typeof networkInterfaces>;

/**
 * The address this host advertises: its first non-loopback address, IPv4 preferred; with
 * `networks` (CIDRs), its first address inside one of them. A container on one network has one
 * candidate; a swarm task has several (its overlay networks, `docker_gwbridge`, `ingress` when
 * it publishes a port) and their interface order follows no network's name, so such a
 * container must say which network HAProxy reaches it on (the registrar's `ADVERTISE_NETWORK`).
 * @param interfaces Default: this host's, looked up at each call (a reconnected container may have a new address).
 * @throws AddressError when `networks` is given and no address is inside it; the interface may be up later.
 */
export function ownAddress(networks: readonly string[] = [], interfaces: Interfaces = networkInterfaces()): string {
  const all = Object.values(interfaces)
    .flat()
    .filter((i) => i !== undefined && !i.internal);
  if (networks.length === 0) return (all.find((i) => i!.family === 'IPv4') ?? all[0])?.address ?? '127.0.0.1';
  const wanted = cidrBlockList(networks);
  const inside = all.filter((i) => wanted.check(i!.address, i!.family === 'IPv4' ? 'ipv4' : 'ipv6'));
  const found = (inside.find((i) => i!.family === 'IPv4') ?? inside[0])?.address;
  if (found === undefined) {
    const have = all.map((i) => i!.address).join(', ') || 'none';
    throw new AddressError(`no address of this host is inside ${networks.join(', ')} (it has ${have})`);
  }
  return found;
}

/**
 * CIDRs (`10.0.0.0/8`, `fd00::/8`) as a BlockList to check addresses against.
 * @throws AddressError naming the first entry that is not a CIDR.
 */
export function cidrBlockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const cidr of cidrs) {
    const [net, bits] = cidr.split('/');
    const v = isIP(net ?? '');
    if (!v || !/^\d+$/.test(bits ?? '') || Number(bits) > (v === 4 ? 32 : 128)) throw new AddressError(`${JSON.stringify(cidr)} is not a CIDR such as 10.0.0.0/8`);
    list.addSubnet(net!, Number(bits), v === 4 ? 'ipv4' : 'ipv6');
  }
  return list;
}

/**
 * One spelling per IP address, so addresses from records, HAProxy and the network compare:
 * IPv6 compressed and lower case (an IPv4 tail, which HAProxy prints dotted, becomes hex).
 */
export function canonicalIp(address: string): string {
  if (isIP(address) !== 6) return address;
  try {
    return new URL(`http://[${address}]/`).hostname.slice(1, -1);
  } catch {
    return address;
  }
}

/** True for `127.0.0.0/8`, `::1` and `::ffff:127.x` (an IPv4 loopback client on a dual-stack socket). */
export function isLoopback(address: string): boolean {
  const a = address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}
