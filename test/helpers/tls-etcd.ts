import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireBinary } from '../../harness/bins.js';
import { freePort } from '../../harness/ports.js';
import { Proc } from '../../harness/process.js';
import { waitFor } from '../../harness/wait.js';

/** PEM files made with openssl for one test: a CA, etcd's server certificate, a client certificate. */
export interface TestCerts {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

function makeCerts(dir: string, clientName: string): TestCerts {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl('req', '-x509', ...ec, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=leasehold-test-ca');
  const sign = (name: string, subject: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl('req', ...ec, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', subject);
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${name}.pem`, '-days', '1', '-extfile', `${name}.ext`);
  };
  // etcd's gateway dials etcd's own gRPC with the server certificate: it must allow client auth too.
  sign('server', '/CN=etcd', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n');
  // No Common Name: with --client-cert-auth and auth on, etcd's gateway refuses a client
  // certificate that has one (etcd >= 3.4.10); the etcd identity is the user name instead.
  sign('client', `/O=${clientName}`, 'extendedKeyUsage=clientAuth\n');
  const f = (n: string) => join(dir, n);
  return { dir, ca: f('ca.pem'), serverCert: f('server.pem'), serverKey: f('server-key.pem'), clientCert: f('client.pem'), clientKey: f('client-key.pem') };
}

/**
 * A real etcd speaking TLS only, requiring client certificates, with auth enabled: users `root`
 * and `registrar-webapp` (role `registrar-webapp`: read and write `/nodes/webapp/` only), as
 * the stack's etcd image sets them up.
 */
export class TlsEtcd {
  static readonly USER = 'registrar-webapp';
  static readonly PASSWORD = 'registrar-pw';
  proc?: Proc;

  private constructor(readonly certs: TestCerts, readonly clientPort: number, private readonly peerPort: number, private readonly dataDir: string) {}

  get endpoint(): string {
    return `https://127.0.0.1:${this.clientPort}`;
  }

  static async start(): Promise<TlsEtcd> {
    requireBinary('etcd', 'etcd-server');
    requireBinary('etcdctl', 'etcd-client');
    requireBinary('openssl', 'openssl');
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-tls-etcd-'));
    const e = new TlsEtcd(makeCerts(dir, TlsEtcd.USER), await freePort(), await freePort(), join(dir, 'data'));
    const c = e.certs;
    e.proc = new Proc('etcd (tls)', 'etcd', [
      '--name', 'tls',
      '--data-dir', e.dataDir,
      '--listen-client-urls', e.endpoint,
      '--advertise-client-urls', e.endpoint,
      '--cert-file', c.serverCert,
      '--key-file', c.serverKey,
      '--trusted-ca-file', c.ca,
      '--client-cert-auth',
      '--listen-peer-urls', `http://127.0.0.1:${e.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${e.peerPort}`,
      '--initial-cluster', `tls=http://127.0.0.1:${e.peerPort}`,
      '--log-level', 'error',
    ]);
    await waitFor(() => (e.etcdctl('endpoint', 'health'), true), 'TLS etcd to answer', 15000, 100);
    e.etcdctl('user', 'add', 'root:root-pw');
    e.etcdctl('user', 'grant-role', 'root', 'root');
    e.etcdctl('user', 'add', `${TlsEtcd.USER}:${TlsEtcd.PASSWORD}`);
    e.etcdctl('role', 'add', TlsEtcd.USER);
    e.etcdctl('role', 'grant-permission', TlsEtcd.USER, '--prefix=true', 'readwrite', '/nodes/webapp/');
    e.etcdctl('user', 'grant-role', TlsEtcd.USER, TlsEtcd.USER);
    e.etcdctl('auth', 'enable');
    e.authEnabled = true;
    return e;
  }

  private authEnabled = false;

  /** etcdctl over TLS, as root once auth is on; returns its stdout. */
  etcdctl(...args: string[]): string {
    const c = this.certs;
    const user = this.authEnabled ? ['--user', 'root:root-pw'] : [];
    return execFileSync('etcdctl', ['--endpoints', this.endpoint, '--cacert', c.ca, '--cert', c.clientCert, '--key', c.clientKey, ...user, ...args], {
      encoding: 'utf8',
      stdio: 'pipe',
      env: { ...process.env, ETCDCTL_API: '3' },
    });
  }

  /** Value and lease id (decimal) of a key, or undefined. */
  read(key: string): { value: string; lease: string } | undefined {
    const text = this.etcdctl('get', key, '-w', 'json');
    const kv = JSON.parse(text).kvs?.[0];
    // Lease ids pass 2^53: read the digits, not a JSON number.
    return kv && { value: Buffer.from(kv.value, 'base64').toString(), lease: /"lease":(\d+)/.exec(text)?.[1] ?? '0' };
  }

  async stop(): Promise<void> {
    await this.proc?.stop();
    rmSync(this.certs.dir, { recursive: true, force: true });
  }
}
