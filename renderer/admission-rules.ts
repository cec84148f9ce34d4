import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { canonicalIp } from '../common/address.js';
import { type AdmissionRules, DEFAULT_RULES } from '../common/admission.js';
import type { RendererOptions } from './options.js';

/** The port a bind line listens on (`*:80`, `127.0.0.1:8080`, `[::]:80 ssl ...`). */
function bindPort(bind: string): number | undefined {
  const m = /:(\d+)$/.exec(bind.split(' ')[0]!);
  return m ? Number(m[1]) : undefined;
}

/** How long the addresses of an LB peer that stopped resolving are still refused, ms. */
const PEER_ADDRESS_KEPT_MS = 120000;

/**
 * The admission rules of this load balancer: its own addresses and ports, the other LBs'
 * (LB_PEERS), etcd's, the routed services, ALLOWED_NETWORKS. Host names are looked up again by
 * `refresh()` (a container may come back at another address, a Swarm service gain a task): it
 * resolves true when an address set changed, so records admitted before are admitted again.
 */
export async function admissionRules(o: RendererOptions): Promise<{ rules: AdmissionRules; refresh: () => Promise<boolean> }> {
  const ownHosts = new Set<string>();
  for (const i of Object.values(networkInterfaces()).flat()) if (i) ownHosts.add(canonicalIp(i.address.split('%')[0]!));
  const lbPorts = new Set([bindPort(o.frontendBind), bindPort(o.statsBind), o.healthPort || undefined, o.peerCert ? o.peerPort : undefined].filter((p): p is number => p !== undefined));
  let allowed: BlockList | undefined;
  if (o.allowedNetworks.length) {
    allowed = new BlockList();
    for (const cidr of o.allowedNetworks) {
      const [ip, bits] = cidr.split('/') as [string, string];
      allowed.addSubnet(ip, Number(bits), isIP(ip) === 4 ? 'ipv4' : 'ipv6');
    }
  }
  const etcdHosts = new Set<string>();
  const etcdEndpoints = new Set<string>();
  const peerHosts = new Set<string>();
  const resolve = async (name: string) => (isIP(name) ? [name] : (await lookup(name, { all: true }).catch(() => [])).map((a) => a.address));
  const lastPeerAddresses = new Map<string, { ips: string[]; at: number }>();
  const same = (a: Set<string>, b: Set<string>) => a.size === b.size && [...a].every((x) => b.has(x));
  const refresh = async () => {
    const hosts = new Set<string>();
    const endpoints = new Set<string>();
    for (const e of o.etcd.endpoints) {
      const url = new URL(e);
      const name = url.hostname.replace(/^\[|\]$/g, '');
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      const ips = await resolve(name);
      for (const ip of ips.map(canonicalIp)) {
        hosts.add(ip);
        endpoints.add(`${ip}:${port}`);
      }
    }
    const peers = new Set<string>();
    for (const name of o.lbPeers) {
      const ips = (await resolve(name)).map(canonicalIp).filter((ip) => !ownHosts.has(ip));
      // A peer that stopped resolving (restarting) keeps its last addresses for a while: a record
      // must not slip in at a peer's address in that gap, nor be refused there for ever after.
      const now = performance.now();
      if (ips.length) lastPeerAddresses.set(name, { ips, at: now });
      const last = lastPeerAddresses.get(name);
      for (const ip of ips.length ? ips : last && now - last.at < PEER_ADDRESS_KEPT_MS ? last.ips : []) peers.add(ip);
    }
    const changed = !same(hosts, etcdHosts) || !same(endpoints, etcdEndpoints) || !same(peers, peerHosts);
    // Replace in place: the view holds these sets.
    etcdHosts.clear();
    for (const h of hosts) etcdHosts.add(h);
    etcdEndpoints.clear();
    for (const x of endpoints) etcdEndpoints.add(x);
    peerHosts.clear();
    for (const x of peers) peerHosts.add(x);
    return changed;
  };
  await refresh();
  const services = new Set([o.defaultService, ...o.routes.map((r) => r.service)]);
  return { rules: { ...DEFAULT_RULES, services, ownHosts, lbPorts, peerHosts, etcdHosts, etcdEndpoints, allowLocal: o.allowLocalNodes, allowed }, refresh };
}

/** The map file HAProxy looks Host names up in: `host service` per line. */
export function routesMapText(routes: RendererOptions['routes']): string {
  return routes.map((r) => `${r.host} ${r.service}\n`).join('');
}
