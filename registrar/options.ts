import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { cidrBlockList } from '../common/address.js';
import { type Env, int, list, str } from '../common/env.js';
import { type EtcdOptions, etcdOptionsFromEnv } from '../common/etcd-options.js';
import { OptionError } from '../common/errors.js';
import type { TlsMaterial } from '../common/http-post.js';
import { type LogLevel, createLineLog, logLevel } from '../common/line-log.js';
import { NAME_PATTERN, normalizePrefix } from '../common/record-format.js';
import { loadTls } from '../common/tls-files.js';

/** Everything the registrar is told, read once from the environment in main.ts. */
export interface RegistrarOptions {
  etcd: EtcdOptions;
  /** Key prefix. Env `NODES_PREFIX`. Default `/nodes/`. */
  prefix: string;
  /** Service this node belongs to. Env `SERVICE`. Default `webapp`. */
  service: string;
  /** Unique node id. Env `NODE_ID`. Default: the hostname (the container id in Docker). */
  nodeId: string;
  /**
   * Address HAProxy should connect to. Env `ADVERTISE_ADDRESS`. Default: unset, meaning the
   * container's own non-loopback address, looked up again at every registration (a container
   * reconnected to its network may come back with another address).
   */
  address?: string;
  /**
   * Networks (CIDRs) the advertised address is taken from when `address` is unset: the first
   * address of this container inside one of them. Env `ADVERTISE_NETWORK`, comma-separated, e.g.
   * `10.231.0.0/16`. Default: none, meaning the first non-loopback address, which is right for
   * a container on one network; a swarm task (overlay, docker_gwbridge, ingress) needs it set.
   */
  advertiseNetworks: string[];
  /** Port the app listens on. Env `PORT`. Default 3000. */
  port: number;
  /** Free-form label shown in stats. Env `TAG`. Default: the node id. */
  tag: string;
  /** HAProxy server weight, 0..256. Env `WEIGHT`. Default 100. */
  weight: number;
  /** Lease TTL in seconds, at least 2; a keepalive every TTL/3. Env `LEASE_TTL`. Default 5. */
  ttlSeconds: number;
  /**
   * The app's health URL: `http://…` passes on a 2xx answer, `tcp://host:port` when the port
   * accepts a connection. Env `HEALTH_URL`. Default `http://127.0.0.1:<PORT>/health`. No
   * https://: the check is node:http's (https would load TLS into every registrar).
   */
  healthUrl: string;
  /**
   * How often the app's health is checked once it has answered, ms: a check starts this long
   * after the previous one started, or when that one ended if it took longer. Env
   * `CHECK_INTERVAL_MS`. Default 1000.
   */
  checkIntervalMs: number;
  /**
   * How long the app may take to answer a check, ms; no answer by then counts as a failure. The
   * check runs beside the keepalives: a slow app never delays them. Env `CHECK_TIMEOUT_MS`.
   * Default 2000.
   */
  checkTimeoutMs: number;
  /**
   * Failed checks in a row before the node leaves (its lease is revoked), like HAProxy's `fall`.
   * Env `CHECK_FALL`. Default 3. With INTERVAL, TIMEOUT and FALL the three check settings, the
   * node leaves at the latest INTERVAL + (FALL − 1) × max(INTERVAL, TIMEOUT) + TIMEOUT after its
   * app stops answering (7 s with the defaults), FALL × INTERVAL after it starts answering errors
   * (3 s), and a stall shorter than about (FALL − 1) × max(INTERVAL, TIMEOUT) + TIMEOUT (6 s)
   * never makes it leave.
   */
  checkFall: number;
  /**
   * Passed checks in a row before a node that left for failing its checks registers again, like
   * HAProxy's `rise`. The first join waits for one. Env `CHECK_RISE`. Default 2.
   */
  checkRise: number;
  /**
   * How often the app's health is checked until it first answers, ms: a container's join
   * waits on this. The wait between checks grows to 1% of the time waited so far (a check a
   * second after 100 s); the wait is logged every 10 s. Env `WAIT_CHECK_INTERVAL_MS`. Default 25.
   */
  waitCheckIntervalMs: number;
  /** Port of the registrar's own `/health`; 0 turns it off. Env `REGISTRAR_HEALTH_PORT`. Default 3001. */
  healthPort: number;
  /** Lowest level logged: `debug`, `info`, `warn`, `error`, `fatal` or `silent`. Env `LOG_LEVEL`. Default `info`. */
  logLevel: LogLevel;
}

export function registrarOptionsFromEnv(env: Env, hostname: string): RegistrarOptions {
  const port = int(env, 'PORT', 3000, 1, 65535);
  const nodeId = str(env, 'NODE_ID', hostname);
  const o: RegistrarOptions = {
    etcd: etcdOptionsFromEnv(env),
    prefix: normalizePrefix(str(env, 'NODES_PREFIX', '/nodes/')),
    service: str(env, 'SERVICE', 'webapp'),
    nodeId,
    address: str(env, 'ADVERTISE_ADDRESS', '') || undefined,
    advertiseNetworks: list(env, 'ADVERTISE_NETWORK', []),
    port,
    tag: str(env, 'TAG', nodeId),
    weight: int(env, 'WEIGHT', 100, 0, 256),
    ttlSeconds: int(env, 'LEASE_TTL', 5, 2, 3600),
    healthUrl: str(env, 'HEALTH_URL', `http://127.0.0.1:${port}/health`),
    checkIntervalMs: int(env, 'CHECK_INTERVAL_MS', 1000, 50, 600000),
    checkTimeoutMs: int(env, 'CHECK_TIMEOUT_MS', 2000, 10, 600000),
    checkFall: int(env, 'CHECK_FALL', 3, 1, 100),
    checkRise: int(env, 'CHECK_RISE', 2, 1, 100),
    waitCheckIntervalMs: int(env, 'WAIT_CHECK_INTERVAL_MS', 25, 5, 600000),
    healthPort: int(env, 'REGISTRAR_HEALTH_PORT', 3001, 0, 65535),
    logLevel: logLevel(str(env, 'LOG_LEVEL', 'info')),
  };
  for (const [k, v] of [['SERVICE', o.service], ['NODE_ID', o.nodeId], ['TAG', o.tag]] as const) {
    if (!NAME_PATTERN.test(v)) throw new OptionError(`${k}=${JSON.stringify(v)}: must match ${NAME_PATTERN.source}`);
  }
  if (!validHealthUrl(o.healthUrl)) throw new OptionError(`HEALTH_URL=${JSON.stringify(o.healthUrl)}: must be an http:// or tcp://host:port URL`);
  if (o.address !== undefined && isIP(o.address) === 0) throw new OptionError(`ADVERTISE_ADDRESS=${JSON.stringify(o.address)}: must be an IP literal`);
  try {
    cidrBlockList(o.advertiseNetworks);
  } catch (err) {
    throw new OptionError(`ADVERTISE_NETWORK: ${(err as Error).message}`, { cause: err });
  }
  return o;
}

function validHealthUrl(url: string): boolean {
  try {
    const u = new URL(url);
    if (u.protocol === 'tcp:') return !!u.hostname && Number(u.port) > 0 && (u.pathname === '' || u.pathname === '/');
    // https:// was taken, then failed every check in silence: node:http refuses it.
    return u.protocol === 'http:' && !!u.host;
  } catch {
    return false;
  }
}

/** Reads the options and their TLS files; on bad ones: logged, and exit 2. */
export function registrarOptionsOrExit(env: Env, name: string): { o: RegistrarOptions; tls: TlsMaterial | undefined } {
  try {
    const o = registrarOptionsFromEnv(env, hostname());
    return { o, tls: loadTls(o.etcd.tls) };
  } catch (err) {
    createLineLog(name).fatal({ event: 'bad-options', err }, 'bad options');
    process.exit(2);
  }
}
