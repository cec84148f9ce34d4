import { connect } from 'node:net';
import { RuntimeError } from '../common/errors.js';

export interface RuntimeOptions {
  /** The worker's admin socket (`stats socket ... level admin`). */
  socket: string;
  /** Commands per connection: bounds one exchange, not the total. */
  batchSize: number;
  /** How long one exchange, retries included, may take, ms. */
  timeoutMs: number;
}

/** Errors worth another connection: the socket is being re-bound (reload) or is busy. */
const TRANSIENT = new Set(['EAGAIN', 'ECONNREFUSED', 'ECONNRESET', 'ENOENT', 'EPIPE']);

/**
 * The one channel to the running worker's runtime API. Calls are serialized: a burst of changes
 * is sent as batches over one connection at a time, never one connection per command. Each batch
 * runs in interactive (`prompt`) mode so every command gets its own answer. A batch that fails to
 * connect, or is cut, is sent again: every command we send is idempotent.
 */
export class RuntimeChannel {
  private tail: Promise<unknown> = Promise.resolve();
  /** Commands sent and commands HAProxy answered with an error, since start. */
  readonly counts = { sent: 0, failed: 0, retried: 0 };

  constructor(private readonly o: RuntimeOptions) {}

  /** Sends the commands in order; resolves with one answer per command (trimmed). */
  run(commands: string[]): Promise<string[]> {
    const next = this.tail.then(() => this.runAll(commands));
    this.tail = next.catch(() => undefined);
    return next;
  }

  private async runAll(commands: string[]): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < commands.length; i += this.o.batchSize) {
      out.push(...(await this.batch(commands.slice(i, i + this.o.batchSize))));
    }
    return out;
  }

  private async batch(commands: string[]): Promise<string[]> {
    const deadline = performance.now() + this.o.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        const answers = await this.exchange(commands, Math.max(100, deadline - performance.now()));
        this.counts.sent += commands.length;
        return answers;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (!TRANSIENT.has(code) || performance.now() >= deadline) {
          this.counts.failed += commands.length;
          throw new RuntimeError(`runtime API at ${this.o.socket}: ${(err as Error).message}`, { cause: err });
        }
        this.counts.retried++;
        await new Promise((r) => setTimeout(r, Math.min(200, 5 * 2 ** attempt)));
      }
    }
  }

  private exchange(commands: string[], timeoutMs: number): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const sock = connect(this.o.socket);
      const chunks: Buffer[] = [];
      sock.setTimeout(timeoutMs, () => sock.destroy(Object.assign(new Error(`no answer in ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      sock.on('connect', () => sock.end(`prompt\n${commands.join('\n')}\nquit\n`));
      sock.on('data', (d) => chunks.push(d));
      sock.on('error', reject);
      sock.on('close', (hadError) => {
        if (hadError) return;
        const answers = splitAnswers(Buffer.concat(chunks).toString(), commands.length);
        if (answers === undefined) {
          reject(Object.assign(new Error(`connection closed before all ${commands.length} answers`), { code: 'ECONNRESET' }));
        } else {
          resolve(answers);
        }
      });
    });
  }
}

/**
 * Splits an interactive session's output into one answer per command: HAProxy prints the `> `
 * prompt before reading each line, so answers sit between prompts. The first part answers
 * `prompt` itself; the last prompt is the one `quit` was read at.
 */
export function splitAnswers(text: string, n: number): string[] | undefined {
  const parts = text.split(/^> /m);
  if (parts.length < n + 2) return undefined;
  return parts.slice(1, n + 1).map((p) => p.trim());
}
