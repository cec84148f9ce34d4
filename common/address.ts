import { networkInterfaces } from 'node:os';

/** This host's first non-loopback address, IPv4 preferred: what a container advertises. */
export function ownAddress(): string {
  const all = Object.values(networkInterfaces())
    .flat()
    .filter((i) => i !== undefined && !i.internal);
  return (all.find((i) => i!.family === 'IPv4') ?? all[0])?.address ?? '127.0.0.1';
}
