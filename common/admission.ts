import { BlockList, isIP } from 'node:net';
import { canonicalIp } from './address.js';
import { RecordError } from './errors.js';
import { type NodeRecord, parseRecordKey, parseRecordValue } from './record.js';

/**
 * What the renderer lets into HAProxy. A webapp container can write records of its own service
 * (docs/security.md, "The security model"): these rules keep such a record from pointing the load balancer at itself,
 * at etcd, at loopback or at anything but a unicast node.
 */
export interface AdmissionRules {
  /** Largest value, bytes: 4 KiB. */
  maxValueBytes: number;
  /** A key must be attached to a lease (a plain `etcdctl put` would be served forever). */
  requireLease: boolean;
  /** Services that may have nodes (the default one and the ROUTES targets); undefined: any. */
  services?: ReadonlySet<string>;
  /** This host's (the load balancer's) own addresses. Canonical literals. */
  ownHosts: ReadonlySet<string>;
  /** Ports the load balancer listens on (traffic, stats, the renderer's endpoints). */
  lbPorts: ReadonlySet<number>;
  /** The other load balancers' addresses (LB_PEERS): never a node, at any port. */
  peerHosts: ReadonlySet<string>;
  /** The gateways of the LB's networks: the Docker host, whose published ports lead back in. Never a node, at any port. */
  gatewayHosts?: ReadonlySet<string>;
  /** etcd's addresses (canonical) and `address:port` client endpoints. */
  etcdHosts: ReadonlySet<string>;
  etcdEndpoints: ReadonlySet<string>;
  /**
   * Loopback and this host's own addresses may be nodes, except on the load balancer's ports
   * and etcd's endpoints (everything on one host without containers: development, the
   * integration suite). Never in a container deployment.
   */
  allowLocal: boolean;
  /** When set, a node's address must be inside one of these networks (ALLOWED_NETWORKS). */
  allowed?: BlockList;
  /** What `allowed` is, for the refusal. Default `ALLOWED_NETWORKS`. */
  allowedName?: string;
}

export const DEFAULT_RULES: AdmissionRules = {
  maxValueBytes: 4096,
  requireLease: true,
  ownHosts: new Set(),
  lbPorts: new Set(),
  peerHosts: new Set(),
  etcdHosts: new Set(),
  etcdEndpoints: new Set(),
  allowLocal: false,
};

export interface Admitted {
  record: NodeRecord;
  /** Fields this version does not know (a newer registrar's): ignored. */
  unknownFields: string[];
}

/** Never unicast nodes: unspecified, multicast, reserved, link-local. (IPv4-mapped addresses are
 * refused by spelling: BlockList matches IPv4 addresses against `::ffff:0:0/96`.) */
const NEVER = new BlockList();
NEVER.addSubnet('0.0.0.0', 8, 'ipv4');
NEVER.addSubnet('169.254.0.0', 16, 'ipv4');
NEVER.addSubnet('224.0.0.0', 4, 'ipv4');
NEVER.addSubnet('240.0.0.0', 4, 'ipv4');
NEVER.addAddress('::', 'ipv6');
NEVER.addSubnet('fe80::', 10, 'ipv6');
NEVER.addSubnet('ff00::', 8, 'ipv6');
const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Why `address` cannot be a node, whatever the deployment, or undefined. */
export function addressProblem(address: string): string | undefined {
  if (address.includes('%')) return 'address has a zone id (%): not a node address';
  const v = isIP(address);
  if (v === 0) return 'address must be an IPv4 or IPv6 literal';
  const type = v === 4 ? 'ipv4' : 'ipv6';
  // Any spelling (0:0:0:0:0:ffff:10.0.0.5, 0::ffff:a00:5): the canonical form, or the checks by
  // address below (etcd's, the peers', our own) would miss the IPv4 host behind it.
  if (v === 6 && /^::ffff:/i.test(canonicalIp(address))) return 'address is IPv4-mapped: register the IPv4 address itself';
  if (NEVER.check(address, type)) return 'address is not a unicast node address (unspecified, multicast, link-local or reserved)';
  return undefined;
}

const clip = (s: string, n = 200) => (s.length > n ? `${s.slice(0, n)}... (${s.length} characters)` : s);

/**
 * Parses and admits the value at `key`. Unknown fields are tolerated (a newer registrar never
 * drops out of an older renderer); a wrong type or range is not.
 * @throws RecordError naming the key and one short reason.
 */
export function admit(prefix: string, kv: { key: string; value: string; lease?: string; unread?: string }, rules: AdmissionRules): Admitted {
  const { key, value } = kv;
  const fail = (reason: string): never => {
    throw new RecordError(clip(key), clip(reason));
  };
  const refuse = (reason: string): never => {
    throw new RecordError(clip(key), clip(reason), true);
  };
  const k = parseRecordKey(prefix, key);
  if (!k.ok) return fail(k.reason);
  const { service, id } = k;
  // The store left a value unread (too large): refused for its size, as one read would be.
  if (kv.unread) fail(kv.unread);
  const bytes = Buffer.byteLength(value);
  if (bytes > rules.maxValueBytes) fail(`value is ${bytes} bytes, over ${rules.maxValueBytes}`);
  const keyWhy = keyPolicy(service, kv.lease, rules);
  if (keyWhy) refuse(keyWhy);
  const v = parseRecordValue(service, id, value);
  if (!v.ok) return fail(v.reason);
  const { record } = v;
  const addressWhy = addressPolicy(record, rules);
  if (addressWhy) refuse(addressWhy);
  return { record, unknownFields: v.unknownFields.slice(0, 10).map((f) => clip(f, 40)) };
}

/**
 * Why the rules as they are now refuse `record` at a key on `lease`, or undefined: what a last
 * valid record kept through an invalid overwrite must still pass.
 */
export function policyProblem(record: NodeRecord, lease: string | undefined, rules: AdmissionRules): string | undefined {
  return keyPolicy(record.service, lease, rules) ?? addressPolicy(record, rules);
}

/** Why the rules refuse a key of `service` on `lease`, before its value is read. */
function keyPolicy(service: string, lease: string | undefined, rules: AdmissionRules): string | undefined {
  if (rules.requireLease && (!lease || lease === '0')) return 'no lease: a record lives on its registrar\'s lease (a plain put would be served forever)';
  if (rules.services && !rules.services.has(service)) return `service "${service}" is not routed by this load balancer (ROUTES)`;
  return undefined;
}

/** Why the rules refuse a record's address (and port). */
function addressPolicy(record: NodeRecord, rules: AdmissionRules): string | undefined {
  const why = addressProblem(record.address);
  if (why) return why;
  const address = canonicalIp(record.address);
  const type = isIP(address) === 4 ? 'ipv4' : 'ipv6';
  const local = LOOPBACK.check(address, type) || rules.ownHosts.has(address);
  if (local && !rules.allowLocal) return 'address is loopback or the load balancer\'s own: it would send traffic to itself';
  if (local && rules.lbPorts.has(record.port)) return `${address}:${record.port} is a listener of the load balancer itself`;
  if (rules.gatewayHosts?.has(address) && !rules.allowLocal) return "address is a gateway of the load balancer's networks (the Docker host): its published ports would lead back into the load balancer";
  if (rules.peerHosts.has(address)) return 'address is another load balancer\'s (LB_PEERS): it would reach that one\'s renderer or loop between them';
  if ((rules.etcdHosts.has(address) && !rules.allowLocal) || rules.etcdEndpoints.has(`${address}:${record.port}`)) return 'address is etcd\'s: the load balancer would be a gateway to it';
  if (rules.allowed && !rules.allowed.check(address, type)) return `address is outside ${rules.allowedName ?? 'ALLOWED_NETWORKS'}`;
  return undefined;
}
