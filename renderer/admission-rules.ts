import { readFileSync } from 'node:fs';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { type Interfaces, canonicalIp, cidrBlockList } from '../common/address.js';
import { type AdmissionRules, DEFAULT_RULES } from '../common/admission.js';
import type { RendererOptions } from './options.js';

/** The port a bind line listens on (`*:80`, `127.0.0.1:8080`, `[::]:80 ssl ...`). */
function bindPort(bind: string): number | undefined {
  const m = /:(\d+)$/.exec(bind.split(' ')[0]!);
  return m ? Number(m[1]) : undefined;
}

/** How long the addresses of an LB peer or etcd member that stopped resolving are still refused, ms. */
const PEER_ADDRESS_KEPT_MS = 120000;

/**
 * The admission rules of this load balancer: its own addresses and ports, the other LBs'
 * (LB_PEERS), etcd's, the routed services, ALLOWED_NETWORKS. Host names are looked up again by
 * `refresh()` (a container may come back at another address, a Swarm service gain a task): it
 * resolves true when an address set changed, so records admitted before are admitted again.
 */
export async function admissionRules(
  o: RendererOptions,
  interfaces: () => Interfaces = networkInterfaces,
  gateways: () => string[] = routeGateways,
): Promise<{ rules: AdmissionRules; refresh: () => Promise<boolean> }> {
  const ownHosts = new Set<string>();
  const lbPorts = new Set([bindPort(o.frontendBind), bindPort(o.statsBind), o.healthPort || undefined, o.peerCert ? o.peerPort : undefined].filter((p): p is number => p !== undefined));
  const services = new Set([o.defaultService, ...o.routes.map((r) => r.service)]);
  const rules: AdmissionRules = { ...DEFAULT_RULES, services, ownHosts, lbPorts, allowLocal: o.allowLocalNodes };
  const explicit = o.allowedNetworks.filter((n) => n !== '*');
  if (explicit.length) rules.allowed = cidrBlockList(explicit);
  // Unset: the networks this LB is attached to (it reaches no node elsewhere anyway); `*`: any.
  const auto = !o.allowedNetworks.length;
  if (auto) rules.allowedName = "the load balancer's own networks (ALLOWED_NETWORKS unset)";
  let ownNetworks = '';
  const etcdHosts = new Set<string>();
  const etcdEndpoints = new Set<string>();
  const peerHosts = new Set<string>();
  const gatewayHosts = new Set<string>();
  Object.assign(rules, { etcdHosts, etcdEndpoints, peerHosts, gatewayHosts });
  const resolve = async (name: string) => (isIP(name) ? [name] : (await lookup(name, { all: true }).catch(() => [])).map((a) => a.address));
  const lastAddresses = new Map<string, { ips: string[]; at: number }>();
  /**
   * A name's addresses; one that stopped resolving (a peer or a member restarting) keeps its last
   * ones for a while: a record must not slip in at its address in that gap, nor be refused there
   * for ever after.
   */
  const resolveKept = async (name: string) => {
    const ips = (await resolve(name)).map(canonicalIp);
    const now = performance.now();
    if (ips.length) lastAddresses.set(name, { ips, at: now });
    const last = lastAddresses.get(name);
    return ips.length ? ips : last && now - last.at < PEER_ADDRESS_KEPT_MS ? last.ips : [];
  };
  /** Puts `next` in place of what `target` holds (the view holds these sets); true if it differed. */
  const replace = (target: Set<string>, next: Set<string>): boolean => {
    const differs = target.size !== next.size || [...next].some((x) => !target.has(x));
    target.clear();
    for (const x of next) target.add(x);
    return differs;
  };
  let running: Promise<boolean> | undefined;
  // One look-up at a time: a slow resolver must not pile them up in libuv's pool.
  const refresh = () => (running ??= lookAgain().finally(() => (running = undefined)));
  const lookAgain = async () => {
    // Our own addresses and networks: a container may be connected to another network later.
    const own = Object.values(interfaces()).flat().filter((i) => i !== undefined);
    const addresses = new Set(own.map((i) => canonicalIp(i.address.split('%')[0]!)));
    let changed = replace(ownHosts, addresses);
    // The networks' gateways are the Docker host: its published ports lead back into this LB.
    changed = replace(gatewayHosts, new Set(gateways().map(canonicalIp))) || changed;
    if (auto) {
      const networks = own.filter((i) => o.allowLocalNodes || !i.internal).map((i) => i.cidr).filter((c): c is string => !!c && !c.startsWith('fe80:'));
      if (o.allowLocalNodes) networks.push('127.0.0.0/8', '::1/128');
      const key = [...new Set(networks)].sort().join(',');
      if (key !== ownNetworks) {
        rules.allowed = cidrBlockList(key ? key.split(',') : []);
        ownNetworks = key;
        changed = true;
      }
    }
    const hosts = new Set<string>();
    const endpoints = new Set<string>();
    for (const e of o.etcd.endpoints) {
      const url = new URL(e);
      const name = url.hostname.replace(/^\[|\]$/g, '');
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      // A member stopped (its name gone from Docker's DNS) keeps its addresses refused a while.
      for (const ip of await resolveKept(name)) {
        hosts.add(ip);
        endpoints.add(`${ip}:${port}`);
      }
    }
    const peers = new Set<string>();
    for (const name of o.lbPeers) for (const ip of await resolveKept(name)) if (!ownHosts.has(ip)) peers.add(ip);
    changed = replace(etcdHosts, hosts) || changed;
    changed = replace(etcdEndpoints, endpoints) || changed;
    return replace(peerHosts, peers) || changed;
  };
  await refresh();
  return { rules, refresh };
}

/** The gateways of this host's routes (`/proc/net/route`, `/proc/net/ipv6_route`); none where they cannot be read. */
export function routeGateways(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): string[] {
  const out: string[] = [];
  const lines = (path: string) => {
    try {
      return read(path).split('\n');
    } catch {
      return [];
    }
  };
  for (const line of lines('/proc/net/route').slice(1)) {
    const hex = line.trim().split(/\s+/)[2];
    if (!hex || !/^[0-9A-Fa-f]{8}$/.test(hex) || /^0+$/.test(hex)) continue;
    const n = Number.parseInt(hex, 16); // little-endian
    out.push([n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.'));
  }
  for (const line of lines('/proc/net/ipv6_route')) {
    const hop = line.trim().split(/\s+/)[4];
    if (!hop || !/^[0-9a-f]{32}$/i.test(hop) || /^0+$/.test(hop)) continue;
    out.push(canonicalIp(hop.match(/.{4}/g)!.join(':')));
  }
  return [...new Set(out)];
}

/** The map file HAProxy looks Host names up in: `host service` per line. */
export function routesMapText(routes: RendererOptions['routes']): string {
  return routes.map((r) => `${r.host} ${r.service}\n`).join('');
}
