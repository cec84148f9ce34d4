import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3, Lease } from 'etcd3';
import { createEtcdClient } from '../common/etcd.js';
import { requireBinary } from './bins.js';
import { freePort } from './ports.js';
import { Proc } from './process.js';
import { waitFor } from './wait.js';

/** A real etcd on 127.0.0.1 with a temp data dir, restartable on the same or a fresh dir. */
export class TestEtcd {
  proc?: Proc;
  dataDir: string;
  readonly client: Etcd3;
  private lease?: Lease;

  private constructor(readonly clientPort: number, private readonly peerPort: number, private readonly flags: string[]) {
    this.dataDir = mkdtempSync(join(tmpdir(), 'leasehold-etcd-'));
    // Fails fast, without the library's circuit breaker, so probes see etcd the moment it is back.
    this.client = createEtcdClient({ endpoints: [this.endpoint], callTimeoutMs: 2000, dialTimeoutMs: 2000 });
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  /** `flags`: more etcd flags (`--max-request-bytes`...). */
  static async start(flags: string[] = []): Promise<TestEtcd> {
    requireBinary('etcd', 'etcd-server');
    const e = new TestEtcd(await freePort(), await freePort(), flags);
    await e.resume();
    return e;
  }

  /** Starts etcd on the current data dir and waits until it answers. */
  async resume(): Promise<void> {
    const url = this.endpoint;
    this.proc = new Proc('etcd', 'etcd', [
      '--name', 'test',
      '--data-dir', this.dataDir,
      '--listen-client-urls', url,
      '--advertise-client-urls', url,
      '--listen-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-advertise-peer-urls', `http://127.0.0.1:${this.peerPort}`,
      '--initial-cluster', `test=http://127.0.0.1:${this.peerPort}`,
      '--log-level', 'error',
      ...this.flags,
    ]);
    await waitFor(async () => (await this.client.get('probe').exec(), true), 'etcd to answer', 15000, 100);
  }

  /**
   * Puts `value` at `key` on a long lease kept alive for the test, as a registrar would (the
   * renderer ignores keys without a lease).
   */
  async putLeased(key: string, value: string): Promise<void> {
    if (!this.lease) {
      this.lease = this.client.lease(60);
      this.lease.on('lost', () => (this.lease = undefined));
    }
    await this.lease.put(key).value(value).exec();
  }

  /** Stops etcd (the data dir stays). */
  async pause(): Promise<void> {
    await this.proc?.stop();
  }

  /** Throws the data away: the next resume() starts an empty etcd. */
  wipe(): void {
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    this.lease?.release();
    await this.pause();
    this.client.close();
    this.wipe();
  }
}
