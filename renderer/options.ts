import { fileURLToPath } from 'node:url';
import { type Env, int, str } from '../common/env.js';
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
  /** Handlebars template. Env `TEMPLATE_PATH`. Default: the shipped `templates/haproxy.cfg.hbs`. */
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
  /** Service the frontend sends traffic to by default. Env `DEFAULT_SERVICE`. Default `webapp`. */
  defaultService: string;
  /** Path HAProxy health-checks on each server. Env `HEALTH_CHECK_PATH`. Default `/health`. */
  healthCheckPath: string;
  /** Quiet time that ends a burst, ms. Env `COALESCE_MIN_MS`. Default 50. */
  coalesceMinMs: number;
  /** Longest a change waits for its burst to end, ms. Env `COALESCE_MAX_MS`. Default 1000. */
  coalesceMaxMs: number;
  /** Full re-list period, guarding against missed events, ms. Env `RESYNC_INTERVAL_MS`. Default 30000. */
  resyncIntervalMs: number;
  /** How long a reload may take to be confirmed, ms. Env `RELOAD_TIMEOUT_MS`. Default 10000. */
  reloadTimeoutMs: number;
  /**
   * Apply joins and leaves on the running HAProxy through its runtime API at once, before the
   * reload that makes them permanent. Assumes the shipped template's server line; turn it off
   * for templates whose servers differ. Env `RUNTIME_UPDATES` (`1`/`0`). Default on.
   */
  runtimeUpdates: boolean;
  /** Port of the renderer's `/health` and `/metrics`; 0 turns it off. Env `RENDERER_HEALTH_PORT`. Default 8405. */
  healthPort: number;
  /** Log level. Env `LOG_LEVEL`. Default `info`. */
  logLevel: string;
}

export function rendererOptionsFromEnv(env: Env): RendererOptions {
  const o: RendererOptions = {
    etcd: etcdOptionsFromEnv(env),
    prefix: normalizePrefix(str(env, 'NODES_PREFIX', '/nodes/')),
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
    coalesceMinMs: int(env, 'COALESCE_MIN_MS', 50, 0, 60000),
    coalesceMaxMs: int(env, 'COALESCE_MAX_MS', 1000, 1, 600000),
    resyncIntervalMs: int(env, 'RESYNC_INTERVAL_MS', 30000, 1000, 86400000),
    reloadTimeoutMs: int(env, 'RELOAD_TIMEOUT_MS', 10000, 100, 600000),
    runtimeUpdates: int(env, 'RUNTIME_UPDATES', 1, 0, 1) === 1,
    healthPort: int(env, 'RENDERER_HEALTH_PORT', 8405, 0, 65535),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
  };
  if (!NAME_PATTERN.test(o.defaultService)) throw new OptionError(`DEFAULT_SERVICE=${JSON.stringify(o.defaultService)}: must match ${NAME_PATTERN.source}`);
  if (!/^\/[\x21-\x7e]*$/.test(o.healthCheckPath)) throw new OptionError(`HEALTH_CHECK_PATH=${JSON.stringify(o.healthCheckPath)}: must be a path without spaces`);
  for (const [k, v] of [['FRONTEND_BIND', o.frontendBind], ['STATS_BIND', o.statsBind]] as const) {
    if (!/^[\x21-\x7e]+( [\x21-\x7e]+)*$/.test(v)) throw new OptionError(`${k}=${JSON.stringify(v)}: must be one line of HAProxy bind arguments`);
  }
  if (o.coalesceMaxMs < o.coalesceMinMs) throw new OptionError('COALESCE_MAX_MS must be at least COALESCE_MIN_MS');
  return o;
}
