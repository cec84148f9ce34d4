import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Pem {
  cert: Buffer;
  key: Buffer;
}

/** A CA made with openssl for one test, and leaves signed by it (subject, extended key usage). */
export class TestCa {
  readonly dir = mkdtempSync(join(tmpdir(), 'leasehold-test-ca-'));
  readonly ca: Buffer;

  constructor(name = 'leasehold-test-ca') {
    this.ssl('req', '-x509', ...EC, '-keyout', 'ca-key.pem', '-out', 'ca.pem', '-days', '1', '-subj', `/CN=${name}`);
    this.ca = readFileSync(join(this.dir, 'ca.pem'));
  }

  /** A leaf: `subject` such as `/CN=leasehold-renderer-peer` or `/O=leasehold/OU=registrar-webapp` (no CN). */
  issue(file: string, subject: string, usage = 'serverAuth,clientAuth'): Pem {
    writeFileSync(join(this.dir, `${file}.ext`), `basicConstraints=critical,CA:FALSE\nextendedKeyUsage=${usage}\n`);
    this.ssl('req', ...EC, '-keyout', `${file}-key.pem`, '-out', `${file}.csr`, '-subj', subject);
    this.ssl('x509', '-req', '-in', `${file}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${file}.pem`, '-days', '1', '-extfile', `${file}.ext`);
    return { cert: readFileSync(join(this.dir, `${file}.pem`)), key: readFileSync(join(this.dir, `${file}-key.pem`)) };
  }

  path(file: string): string {
    return join(this.dir, file);
  }

  private ssl(...args: string[]) {
    execFileSync('openssl', args, { cwd: this.dir, stdio: 'pipe' });
  }
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
