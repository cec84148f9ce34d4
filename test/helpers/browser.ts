import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { requireBinary } from '../../harness/bins.js';
import { waitFor } from '../../harness/wait.js';

/** Where tests keep what a person looks at afterwards (screenshots): test-artifacts/ at the top. */
export const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

type Reply = { id?: number; result?: unknown; error?: { message: string }; method?: string; sessionId?: string };

/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools protocol on a pipe
 * (`--remote-debugging-pipe`: fd 3 in, fd 4 out, NUL-separated JSON): no WebSocket, no
 * puppeteer, no browser download.
 */
export class Browser {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly stderr: string[] = [];

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    let buf = '';
    (child.stdio[4] as Readable).on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\0')) >= 0) {
        const msg = JSON.parse(buf.slice(0, i)) as Reply;
        buf = buf.slice(i + 1);
        const w = msg.id !== undefined ? this.waiting.get(msg.id) : undefined;
        if (!w) continue;
        this.waiting.delete(msg.id!);
        if (msg.error) w.reject(new Error(msg.error.message));
        else w.resolve(msg.result);
      }
    });
    child.stderr?.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    child.on('exit', () => {
      for (const w of this.waiting.values()) w.reject(new Error(`chromium exited: ${this.stderr.join('').slice(-2000)}`));
      this.waiting.clear();
    });
  }

  static async start(): Promise<Browser> {
    requireBinary('chromium', 'chromium');
    const profile = mkdtempSync(join(tmpdir(), 'leasehold-chromium-'));
    // --no-sandbox: the tests run as root, where Chromium's sandbox refuses to start.
    const args = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run', '--remote-debugging-pipe', `--user-data-dir=${profile}`, '--window-size=1400,1000', 'about:blank'];
    const child = spawn('chromium', args, { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'] });
    const b = new Browser(child, profile);
    await waitFor(() => b.send('Browser.getVersion'), 'chromium', 30000, 250);
    return b;
  }

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.nextId++;
    const p = new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
      setTimeout(() => {
        if (this.waiting.delete(id)) reject(new Error(`${method}: no answer from chromium in 30 s`));
      }, 30000).unref();
    });
    (this.child.stdio[3] as Writable).write(`${JSON.stringify({ id, method, params, ...(sessionId && { sessionId }) })}\0`);
    return p;
  }

  /** A new tab on `url`, sending `headers` with every request it makes (Authorization, say). */
  async open(url: string, headers: Record<string, string> = {}): Promise<Tab> {
    const { targetId } = await this.send<{ targetId: string }>('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send<{ sessionId: string }>('Target.attachToTarget', { targetId, flatten: true });
    const tab = new Tab(this, sessionId);
    await tab.send('Network.enable');
    await tab.send('Network.setExtraHTTPHeaders', { headers });
    await tab.send('Page.enable');
    await tab.send('Page.navigate', { url });
    return tab;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      const within = (ms: number) => Promise.race([exited, new Promise((r) => setTimeout(r, ms))]);
      // Browser.close ends every Chromium process; a signal to the first leaves its helpers writing the profile a moment longer.
      void this.send('Browser.close').catch(() => undefined);
      await within(5000);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
      await within(2000);
    }
    try {
      rmSync(this.profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    } catch {
      // A helper still writing: a temporary directory left behind is no test failure.
    }
  }
}

export class Tab {
  constructor(
    private readonly browser: Browser,
    private readonly sessionId: string,
  ) {}

  send<T = Record<string, unknown>>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return this.browser.send<T>(method, params, this.sessionId);
  }

  /** The value of a JavaScript expression in the page (awaited when it is a promise). */
  async eval<T>(expression: string): Promise<T> {
    const r = await this.send<{ result: { value?: T }; exceptionDetails?: { text: string } }>('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`${expression}: ${r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** A PNG of the page, written to `path` (directories made). */
  async screenshot(path: string): Promise<string> {
    const { data } = await this.send<{ data: string }>('Page.captureScreenshot', { format: 'png', captureBeyondViewport: true });
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, Buffer.from(data, 'base64'));
    return path;
  }
}
