// The etcd client's TLS files, read apart from the client itself: leasehold-run reads them before
// it starts the app, and loads the client (node:http, node:tls and the rest) only after.
import { readFileSync } from 'node:fs';
import { OptionError } from './errors.js';
import type { EtcdTlsOptions } from './etcd-options.js';
import type { TlsMaterial } from './http-post.js';

/**
 * Reads the TLS files named in the options.
 * @throws OptionError naming the variable whose file cannot be read.
 */
export function loadTls(o: EtcdTlsOptions | undefined, read: (path: string) => Buffer = readFileSync): TlsMaterial | undefined {
  if (!o) return undefined;
  const file = (name: string, path?: string) => {
    if (!path) return undefined;
    try {
      return read(path);
    } catch (err) {
      throw new OptionError(`${name}=${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const tls: TlsMaterial = {};
  const ca = file('ETCD_CA', o.caFile);
  const cert = file('ETCD_CERT', o.certFile);
  const key = file('ETCD_KEY', o.keyFile);
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  return tls;
}
