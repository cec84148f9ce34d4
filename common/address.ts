import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** This host's first non-loopback address, IPv4 preferred: what a container advertises. */
export function ownAddress(): string {
  const all = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && !i.internal);
  return (all.find((i) => i!.family === 'IPv4') ?? all[0])?.address ?? '127.0.0.1';
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
