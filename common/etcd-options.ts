// How registrar and renderer reach etcd, read from the environment. No etcd client here:
// the registrar imports this file without loading etcd3 and gRPC.
import { readFileSync } from 'node:fs';
import { type Env, int, list, str } from './env.js';
import { OptionError } from './errors.js';

/** Files for TLS to etcd; each is a path to a PEM file, read once at start-up. */
export interface EtcdTlsOptions {
  /** CA that signed etcd's server certificate. Env `ETCD_CA`. Default: the system's CAs. */
  caFile?: string;
  /**
   * Client certificate, for etcd's `--client-cert-auth`. Env `ETCD_CERT`. Default: none. Needs
   * `keyFile`. With auth on, etcd's gateway (etcd >= 3.4.10) refuses a client certificate that
   * has a Common Name: the identity is `auth.username`, so the certificate should have none.
   */
  certFile?: string;
  /** Private key of the client certificate. Env `ETCD_KEY`. Default: none. Needs `certFile`. */
  keyFile?: string;
}

/** etcd user, when etcd has auth enabled. */
export interface EtcdAuthOptions {
  /** etcd user, when etcd has auth on (the registrar's: `registrar-<service>`). Env `ETCD_USERNAME`. Default none. */
  username: string;
  /**
   * The etcd user's password, given as itself or as a file that holds it (less one final newline,
   * read when `ETCD_PASSWORD` is unset): a file keeps the password out of the container's
   * configuration. Env `ETCD_PASSWORD`, `ETCD_PASSWORD_FILE`. Default none.
   */
  password: string;
}

export interface EtcdOptions {
  /**
   * etcd client URLs, tried in order: a call that finds one unreachable goes on to the next.
   * Env `ETCD_ENDPOINTS`, comma-separated; `host:port` means `http://host:port`.
   * Default `http://127.0.0.1:2379`.
   */
  endpoints: string[];
  /** Deadline of one unary call, ms. Env `ETCD_TIMEOUT_MS`. Default 2000. */
  callTimeoutMs: number;
  /** Connect timeout, ms. Env `ETCD_DIAL_TIMEOUT_MS`. Default 2000. */
  dialTimeoutMs: number;
  /** TLS files; unset when none of `ETCD_CA`, `ETCD_CERT`, `ETCD_KEY` is set. */
  tls?: EtcdTlsOptions;
  /** etcd auth; unset when `ETCD_USERNAME` is unset. */
  auth?: EtcdAuthOptions;
}

/** @throws OptionError on an endpoint that is not an http(s) URL, or TLS/auth settings that do not go together. */
export function etcdOptionsFromEnv(env: Env): EtcdOptions {
  const endpoints = list(env, 'ETCD_ENDPOINTS', ['http://127.0.0.1:2379']).map((e) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `http://${e}`));
  for (const e of endpoints) {
    let url: URL | undefined;
    try {
      url = new URL(e);
    } catch {
      /* reported below */
    }
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || !url.host) {
      throw new OptionError(`ETCD_ENDPOINTS: ${JSON.stringify(e)} is not an http:// or https:// URL`);
    }
  }
  const o: EtcdOptions = {
    endpoints,
    callTimeoutMs: int(env, 'ETCD_TIMEOUT_MS', 2000, 100, 60000),
    dialTimeoutMs: int(env, 'ETCD_DIAL_TIMEOUT_MS', 2000, 100, 60000),
  };
  const tls: EtcdTlsOptions = {
    caFile: str(env, 'ETCD_CA', '') || undefined,
    certFile: str(env, 'ETCD_CERT', '') || undefined,
    keyFile: str(env, 'ETCD_KEY', '') || undefined,
  };
  if (tls.caFile || tls.certFile || tls.keyFile) {
    if (!tls.certFile !== !tls.keyFile) throw new OptionError('ETCD_CERT and ETCD_KEY go together: set both or neither');
    if (!endpoints.some((e) => e.startsWith('https:'))) throw new OptionError('ETCD_CA, ETCD_CERT and ETCD_KEY need an https:// endpoint in ETCD_ENDPOINTS');
    o.tls = Object.fromEntries(Object.entries(tls).filter(([, v]) => v !== undefined));
  }
  const username = str(env, 'ETCD_USERNAME', '');
  const password = env.ETCD_PASSWORD || passwordFile(str(env, 'ETCD_PASSWORD_FILE', ''));
  if (username) {
    if (!password) throw new OptionError('ETCD_USERNAME is set without ETCD_PASSWORD');
    o.auth = { username, password };
  } else if (password) {
    throw new OptionError('ETCD_PASSWORD is set without ETCD_USERNAME');
  }
  return o;
}

function passwordFile(path: string): string {
  if (!path) return '';
  try {
    return readFileSync(path, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new OptionError(`ETCD_PASSWORD_FILE=${path} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}
