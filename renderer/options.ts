import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cidrBlockList } from '../common/address.js';
import { type Env, int, list, oneOf, str } from '../common/env.js';
import { type EtcdOptions, etcdOptionsFromEnv } from '../common/etcd.js';
import { OptionError } from '../common/errors.js';
import { NAME_PATTERN, normalizePrefix } from '../common/record.js';

/** The template shipped with leasehold. */
export const DEFAULT_TEMPLATE = fileURLToPath(new URL('./templates/haproxy.cfg.hbs', import.meta.url));

/** Everything the renderer is told, read once from the environment in main.ts. */
export interface RendererOptions {
  etcd: EtcdOptions;
  /** Key prefix watched. Env `NODES_PREFIX`. Default `/nodes/`. */
  prefix: string;
  /** Where operator keys live (drains, weights: `leasehold drain`). Env `OPERATOR_PREFIX`. Default `/leasehold/`. */
  operatorPrefix: string;
  /** Handlebars template (what a template of your own must keep: docs/architecture.md). Env `TEMPLATE_PATH`. Default: the shipped `templates/haproxy.cfg.hbs`. */
  templatePath: string;
  /** The live config the renderer replaces. Env `HAPROXY_CONFIG`. Default `/etc/haproxy/haproxy.cfg`. */
  configPath: string;
  /** HAProxy binary used for `-c`. Env `HAPROXY_BIN`. Default `haproxy`. */
  haproxyBin: string;
  /** Master CLI socket (haproxy -W -S). Env `HAPROXY_MASTER_SOCKET`. Default `/run/haproxy/master.sock`. */
  masterSocket: string;
  /** Admin socket written into the config. Env `HAPROXY_ADMIN_SOCKET`. Default `/run/haproxy/admin.sock`. */
  adminSocket: string;
  /** Server health handed across reloads. Env `HAPROXY_STATE_FILE`. Default `/run/haproxy/server-state`. */
  stateFile: string;
  /** Traffic bind. Env `FRONTEND_BIND`. Default `*:80`. */
  frontendBind: string;
  /** Stats page bind (HTML, `;csv`, `/metrics`). Env `STATS_BIND`. Default `*:1936`. */
  statsBind: string;
  /**
   * Service the frontend sends traffic to when no `ROUTES` rule matches the Host, and when a
   * request has no Host (HTTP/1.0, an outer load balancer's health check). Env `DEFAULT_SERVICE`.
   * Default `webapp`.
   */
  defaultService: string;
  /** Path HAProxy health-checks on each server. Env `HEALTH_CHECK_PATH`. Default `/health`. */
  healthCheckPath: string;
  /**
   * Another path for some services' servers: `service=/path`, comma-separated. Env
   * `HEALTH_CHECK_PATHS`, e.g. `labelled=/index.html` (an app with no /health). Default: none.
   */
  healthCheckPaths: { service: string; path: string }[];
  /**
   * Quiet time that ends a burst of store changes, ms. A change after that much quiet is applied
   * at once; the changes that follow it within this time wait for their burst to end. Env
   * `COALESCE_MIN_MS`. Default 5.
   */
  coalesceMinMs: number;
  /** Longest a change waits for its burst to end, ms. Env `COALESCE_MAX_MS`. Default 200. */
  coalesceMaxMs: number;
  /** Full re-list period, guarding against missed events, ms. Env `RESYNC_INTERVAL_MS`. Default 30000. */
  resyncIntervalMs: number;
  /** How long a reload may take to be confirmed, ms. Env `RELOAD_TIMEOUT_MS`. Default 10000. */
  reloadTimeoutMs: number;
  /** Period of the reconcile that compares HAProxy's servers with the store, ms. Env `RECONCILE_INTERVAL_MS`. Default 5000. */
  reconcileIntervalMs: number;
  /** Smallest pool of server slots per backend. Env `MIN_SLOTS`. Default 16. */
  minSlots: number;
  /** A pool at most a quarter used for this long shrinks at the next pass, ms. Env `POOL_SHRINK_AFTER_MS`. Default 300000. */
  shrinkAfterMs: number;
  /** Longest a leaving node's slot waits for its sessions to end before it may be reused, ms. Env `LEAVE_MAX_MS`. Default 60000. */
  leaveMaxMs: number;
  /** Quiet time before the config on disk is brought in line with membership changes, ms. Env `MIRROR_DELAY_MS`. Default 1000. */
  mirrorDelayMs: number;
  /**
   * Secret behind the sticky cookies (`dynamic-cookie-key`). Load balancers that share it send a
   * client to the same node: give several LBs the same one. Env `COOKIE_KEY`. Default: a random key
   * kept in `<state dir>/cookie-key`.
   */
  cookieKey?: string;
  /** How long an old worker may finish its requests after a reload (HAProxy time). Env `HARD_STOP_AFTER`. Default `5m`. */
  hardStopAfter: string;
  /**
   * HAProxy's `timeout connect` (HAProxy time). A crashed node is found by the first connect
   * that times out: this bounds how long a request waits before it is sent elsewhere. Raise it
   * for nodes more than a LAN away. Env `CONNECT_TIMEOUT`. Default `100ms`.
   */
  connectTimeout: string;
  /**
   * HAProxy's `maxconn`. HAProxy needs about twice this many file descriptors, plus one per
   * server slot. Env `HAPROXY_MAXCONN`. Default 4096.
   */
  maxconn: number;
  /**
   * Which requests HAProxy logs to its standard output (`docker compose logs ha`): `errors` (failed,
   * retried or redispatched ones, in HAProxy's HTTP log format, with the server tried and why it
   * ended), `all`, or `off`. Env `REQUEST_LOG`. Default `errors`.
   */
  requestLog: 'errors' | 'all' | 'off';
  /**
   * Host names (case-insensitive) routed to services other than the default one, e.g.
   * `api.example.com=api,admin.example.com=admin`. The default service takes every other Host;
   * only these services have backends, and records of any other service are refused. One map
   * lookup of the Host without its port and trailing dot: `API.example.com.:8080` is
   * `api.example.com`. Env `ROUTES`. Default: none.
   */
  routes: { host: string; service: string }[];
  /** Map file the routes are written to for HAProxy. Env `ROUTES_MAP`. Default `routes.map` beside `HAPROXY_CONFIG`. */
  routesMap: string;
  /**
   * Node addresses must be inside one of these CIDRs; `*` allows any. Env `ALLOWED_NETWORKS`,
   * comma-separated. Default: the networks this LB is attached to, looked up again every
   * `lbPeersRefreshMs` (with ALLOW_LOCAL_NODES, loopback too).
   */
  allowedNetworks: string[];
  /**
   * Loopback and this host's own addresses may be nodes (not on the LB's ports): for everything
   * on one host without containers (development, the integration suite): `1`. Env
   * `ALLOW_LOCAL_NODES`. Default 0.
   */
  allowLocalNodes: boolean;
  /** How long a suspicious list (another etcd, an older revision, most nodes gone) is held, ms. Env `HOLD_MS`. Default 15000. */
  holdMs: number;
  /**
   * Fail static: nodes of a service that vanish without a graceful leave (lease expiry, a delete)
   * while that takes more than this share (percent) of the service's nodes within
   * `failStaticWindowMs` are held: kept in HAProxy, whose own checks decide their traffic, until
   * they register again or `failStaticMaxMs` passes. A service is never emptied by expiries alone
   * within that bound. Env `FAIL_STATIC_SHARE`. Default 50.
   */
  failStaticShare: number;
  /** Fail static: the window in which a service's losses are counted, ms. Env `FAIL_STATIC_WINDOW_MS`. Default 10000. */
  failStaticWindowMs: number;
  /** Fail static: longest a lost node is held before it is removed, ms. Env `FAIL_STATIC_MAX_MS`. Default 60000. */
  failStaticMaxMs: number;
  /** Largest pool of server slots per backend (HAProxy takes a file descriptor per slot). Env `MAX_SLOTS`. Default 16384. */
  maxSlots: number;
  /**
   * Valid records served per service at most: past it the newest are refused (the first
   * registered keep serving), logged once per change with their number, and counted in `/status`
   * (`overCap`) and `/metrics`. Env `MAX_NODES_PER_SERVICE`. Default `MAX_SLOTS`: no more nodes
   * than a pool can hold.
   */
  maxNodesPerService: number;
  /**
   * `/health` answers 503 once the store has been out of sync (not listed and watching: etcd
   * away, a list or a watch failing) this long, ms. HAProxy serves on meanwhile. The ha image's
   * health check reads `/live` (the same less this), so an etcd outage restarts no serving LB. Env
   * `STORE_UNSYNCED_UNHEALTHY_MS`. Default 30000.
   */
  storeUnsyncedUnhealthyMs: number;
  /** Runtime API commands sent per connection. Env `RUNTIME_BATCH`. Default 1000. */
  runtimeBatch: number;
  /** Deadline of one runtime API exchange, retries included, ms. Env `RUNTIME_TIMEOUT_MS`. Default 10000. */
  runtimeTimeoutMs: number;
  /** Port of the renderer's `/health` and `/metrics`; 0 turns it off. Env `RENDERER_HEALTH_PORT`. Default 8405. */
  healthPort: number;
  /**
   * Address of `/health`, `/metrics`, `/status` and `/events`. Env `RENDERER_HEALTH_BIND`. Default
   * `127.0.0.1`. Bound beyond loopback, it answers `/health` only: whoever reaches that address
   * (a webapp on the same network) must learn nothing else there; peers use the TLS endpoint.
   */
  healthBind: string;
  /**
   * The peer endpoint: `/status` and `/events` (and `/health`, `/metrics`) for the other LBs and
   * the operator's CLI over mutual TLS, on every address. Off unless `peerCert` and `peerKey` are
   * set. Env `RENDERER_PEER_PORT`. Default 8406.
   */
  peerPort: number;
  /** This renderer's peer certificate (PEM file; serverAuth and clientAuth). Env `RENDERER_PEER_CERT`. Default none: no peer endpoint. */
  peerCert?: string;
  /** Its key. Env `RENDERER_PEER_KEY`. */
  peerKey?: string;
  /** The CA a peer's certificate must chain to. Env `RENDERER_PEER_CA`. Default `ETCD_CA` (the stack's one CA). */
  peerCa?: string;
  /** The Common Name a peer's certificate must carry. Env `RENDERER_PEER_NAME`. Default `leasehold-renderer-peer`. */
  peerName: string;
  /**
   * The other load balancers, by host name or address (a Swarm service's `tasks.<name>` names
   * every task): their addresses are never admitted as nodes, at any port. Looked up again every
   * `lbPeersRefreshMs`. Env `LB_PEERS`, comma-separated. Default none.
   */
  lbPeers: string[];
  /** How often `LB_PEERS` and etcd's names are looked up again, ms. Env `LB_PEERS_REFRESH_MS`. Default 5000. */
  lbPeersRefreshMs: number;
  /** Log level. Env `LOG_LEVEL`. Default `info`. */
  logLevel: string;
}

/** A Host name as ROUTES takes it: letters, digits, dots, dashes (a leading `*.` is not supported). */
const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$/;

/** What a cookie key may hold: it goes into the config as one word. */
export const COOKIE_KEY = /^[A-Za-z0-9_.+/=-]{8,256}$/;

export function rendererOptionsFromEnv(env: Env): RendererOptions {
  const o: RendererOptions = {
    etcd: etcdOptionsFromEnv(env),
    prefix: normalizePrefix(str(env, 'NODES_PREFIX', '/nodes/')),
    operatorPrefix: normalizePrefix(str(env, 'OPERATOR_PREFIX', '/leasehold/')),
    templatePath: str(env, 'TEMPLATE_PATH', DEFAULT_TEMPLATE),
    configPath: str(env, 'HAPROXY_CONFIG', '/etc/haproxy/haproxy.cfg'),
    haproxyBin: str(env, 'HAPROXY_BIN', 'haproxy'),
    masterSocket: str(env, 'HAPROXY_MASTER_SOCKET', '/run/haproxy/master.sock'),
    adminSocket: str(env, 'HAPROXY_ADMIN_SOCKET', '/run/haproxy/admin.sock'),
    stateFile: str(env, 'HAPROXY_STATE_FILE', '/run/haproxy/server-state'),
    frontendBind: str(env, 'FRONTEND_BIND', '*:80'),
    statsBind: str(env, 'STATS_BIND', '*:1936'),
    defaultService: str(env, 'DEFAULT_SERVICE', 'webapp'),
    healthCheckPath: str(env, 'HEALTH_CHECK_PATH', '/health'),
    healthCheckPaths: list(env, 'HEALTH_CHECK_PATHS', []).map((x) => {
      const [service, path, ...rest] = x.split('=').map((v) => v.trim());
      if (!service || !path || rest.length || !NAME_PATTERN.test(service) || !/^\/[\x21-\x7e]*$/.test(path)) {
        throw new OptionError(`HEALTH_CHECK_PATHS: ${JSON.stringify(x)} must be service=/path (a service matching ${NAME_PATTERN.source}, a path without spaces)`);
      }
      return { service, path };
    }),
    coalesceMinMs: int(env, 'COALESCE_MIN_MS', 5, 0, 60000),
    coalesceMaxMs: int(env, 'COALESCE_MAX_MS', 200, 1, 600000),
    resyncIntervalMs: int(env, 'RESYNC_INTERVAL_MS', 30000, 1000, 86400000),
    reloadTimeoutMs: int(env, 'RELOAD_TIMEOUT_MS', 10000, 100, 600000),
    reconcileIntervalMs: int(env, 'RECONCILE_INTERVAL_MS', 5000, 100, 3600000),
    minSlots: int(env, 'MIN_SLOTS', 16, 1, 100000),
    shrinkAfterMs: int(env, 'POOL_SHRINK_AFTER_MS', 300000, 0, 86400000),
    leaveMaxMs: int(env, 'LEAVE_MAX_MS', 60000, 0, 86400000),
    mirrorDelayMs: int(env, 'MIRROR_DELAY_MS', 1000, 0, 600000),
    cookieKey: str(env, 'COOKIE_KEY', '') || undefined,
    hardStopAfter: str(env, 'HARD_STOP_AFTER', '5m'),
    connectTimeout: str(env, 'CONNECT_TIMEOUT', '100ms'),
    maxconn: int(env, 'HAPROXY_MAXCONN', 4096, 1, 10000000),
    requestLog: oneOf(env, 'REQUEST_LOG', ['errors', 'all', 'off'], 'errors'),
    routes: list(env, 'ROUTES', []).map((r) => {
      const [host, service, ...rest] = r.split('=').map((x) => x.trim());
      if (!host || !service || rest.length || !HOST.test(host) || !NAME_PATTERN.test(service)) {
        throw new OptionError(`ROUTES: ${JSON.stringify(r)} must be host=service (a host name, and a service matching ${NAME_PATTERN.source})`);
      }
      return { host: host.toLowerCase(), service };
    }),
    routesMap: str(env, 'ROUTES_MAP', join(dirname(str(env, 'HAPROXY_CONFIG', '/etc/haproxy/haproxy.cfg')), 'routes.map')),
    allowedNetworks: list(env, 'ALLOWED_NETWORKS', []),
    allowLocalNodes: int(env, 'ALLOW_LOCAL_NODES', 0, 0, 1) === 1,
    holdMs: int(env, 'HOLD_MS', 15000, 0, 3600000),
    failStaticShare: int(env, 'FAIL_STATIC_SHARE', 50, 0, 100) / 100,
    failStaticWindowMs: int(env, 'FAIL_STATIC_WINDOW_MS', 10000, 0, 3600000),
    failStaticMaxMs: int(env, 'FAIL_STATIC_MAX_MS', 60000, 0, 86400000),
    maxSlots: int(env, 'MAX_SLOTS', 16384, 1, 1000000),
    maxNodesPerService: int(env, 'MAX_NODES_PER_SERVICE', int(env, 'MAX_SLOTS', 16384, 1, 1000000), 1, 1000000),
    storeUnsyncedUnhealthyMs: int(env, 'STORE_UNSYNCED_UNHEALTHY_MS', 30000, 1000, 86400000),
    runtimeBatch: int(env, 'RUNTIME_BATCH', 1000, 1, 100000),
    runtimeTimeoutMs: int(env, 'RUNTIME_TIMEOUT_MS', 10000, 100, 600000),
    healthPort: int(env, 'RENDERER_HEALTH_PORT', 8405, 0, 65535),
    healthBind: str(env, 'RENDERER_HEALTH_BIND', '127.0.0.1'),
    peerPort: int(env, 'RENDERER_PEER_PORT', 8406, 1, 65535),
    peerCert: str(env, 'RENDERER_PEER_CERT', '') || undefined,
    peerKey: str(env, 'RENDERER_PEER_KEY', '') || undefined,
    peerCa: str(env, 'RENDERER_PEER_CA', '') || str(env, 'ETCD_CA', '') || undefined,
    peerName: str(env, 'RENDERER_PEER_NAME', 'leasehold-renderer-peer'),
    lbPeers: list(env, 'LB_PEERS', []),
    lbPeersRefreshMs: int(env, 'LB_PEERS_REFRESH_MS', 5000, 500, 3600000),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
  };
  if (env.RENDERER_HEALTH_PEERS !== undefined) {
    throw new OptionError('RENDERER_HEALTH_PEERS is gone: peers are admitted by certificate on the TLS endpoint (RENDERER_PEER_CERT, RENDERER_PEER_KEY), and the other LBs are named in LB_PEERS');
  }
  if (!o.peerCert !== !o.peerKey) throw new OptionError('RENDERER_PEER_CERT and RENDERER_PEER_KEY go together: set both or neither');
  if (o.peerCert && !o.peerCa) throw new OptionError('RENDERER_PEER_CERT needs a CA to check peers against: RENDERER_PEER_CA (or ETCD_CA)');
  if (o.peerCert && o.healthPort === o.peerPort) throw new OptionError('RENDERER_PEER_PORT must differ from RENDERER_HEALTH_PORT');
  if (!NAME_PATTERN.test(o.defaultService)) throw new OptionError(`DEFAULT_SERVICE=${JSON.stringify(o.defaultService)}: must match ${NAME_PATTERN.source}`);
  const checked = o.healthCheckPaths.map((c) => c.service);
  if (new Set(checked).size !== checked.length) throw new OptionError(`HEALTH_CHECK_PATHS: a service named twice (${checked.join(', ')})`);
  if (!/^\/[\x21-\x7e]*$/.test(o.healthCheckPath)) throw new OptionError(`HEALTH_CHECK_PATH=${JSON.stringify(o.healthCheckPath)}: must be a path without spaces`);
  for (const [k, v] of [['FRONTEND_BIND', o.frontendBind], ['STATS_BIND', o.statsBind]] as const) {
    if (!/^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(v)) throw new OptionError(`${k}=${JSON.stringify(v)}: must be one line of HAProxy bind arguments`);
  }
  if (o.cookieKey !== undefined && !COOKIE_KEY.test(o.cookieKey)) throw new OptionError('COOKIE_KEY: must be 8 to 256 characters of [A-Za-z0-9_.+/=-]');
  for (const [k, v] of [['HARD_STOP_AFTER', o.hardStopAfter], ['CONNECT_TIMEOUT', o.connectTimeout]] as const) {
    if (!/^[0-9]+(us|ms|s|m|h|d)?$/.test(v)) throw new OptionError(`${k}=${JSON.stringify(v)}: must be an HAProxy time such as 100ms, 30s or 5m`);
  }
  try {
    cidrBlockList(o.allowedNetworks.filter((n) => n !== '*'));
  } catch (err) {
    throw new OptionError(`ALLOWED_NETWORKS: ${(err as Error).message}`);
  }
  if (!/^\/[\x21-\x7e]+$/.test(o.routesMap)) throw new OptionError(`ROUTES_MAP=${JSON.stringify(o.routesMap)}: must be an absolute path without spaces`);
  if (o.operatorPrefix.startsWith(o.prefix) || o.prefix.startsWith(o.operatorPrefix)) throw new OptionError('OPERATOR_PREFIX and NODES_PREFIX must not contain one another: operator keys are never node records');
  if (o.minSlots > o.maxSlots) throw new OptionError('MIN_SLOTS must be at most MAX_SLOTS');
  if (o.coalesceMaxMs < o.coalesceMinMs) throw new OptionError('COALESCE_MAX_MS must be at least COALESCE_MIN_MS');
  return o;
}
