import { type DesiredServer, type Difference, afterAddress, diff, fingerprint, refusedAnswer } from './reconcile.js';
import type { RuntimeChannel } from './runtime.js';
import type { Actual } from './worker.js';

/** What one reconcile did. */
export interface ReconcileOutcome {
  /** Servers that differed at the start. */
  differed: Difference[];
  /** Of those, the ones whose desired state had not changed since last verified: drift. */
  drift: Difference[];
  commands: number;
  /** Commands HAProxy answered with an error, and its answer. */
  refused: { command: string; answer: string }[];
  /** Servers still different after the last re-read. */
  unconverged: Difference[];
  /** Desired servers the worker does not have (a structural change still to come). */
  missing: DesiredServer[];
  /** The worker as last read. */
  actual: Actual;
}

/** Rounds of commands and re-reads per reconcile (a refused or unconfirmed address takes a round more). */
const ROUNDS = 3;

/**
 * Membership, level-triggered: desired servers against the worker's, commands for what differs,
 * a re-read, and again, until nothing differs or the rounds run out. Nothing is assumed applied
 * until a re-read shows it, except an address HAProxy answered it took: the server's weight and
 * state follow it at once (still verified by the re-read).
 */
export class Membership {
  /** Each server's desired state when a re-read last showed it live (compared by fingerprint). */
  private verified = new Map<string, DesiredServer>();

  constructor(
    private readonly runtime: Pick<RuntimeChannel, 'run'>,
    private readonly observe: () => Promise<Actual>,
  ) {}

  /** @throws RuntimeError when the worker cannot be reached. */
  async reconcile(desired: DesiredServer[], start: Actual): Promise<ReconcileOutcome> {
    let actual = start;
    let d = diff(desired, actual.servers);
    const differed = d.differences;
    const drift = differed.filter((x) => {
      const v = this.verified.get(key(x.desired));
      return v !== undefined && fingerprint(v) === fingerprint(x.desired);
    });
    const refused: ReconcileOutcome['refused'] = [];
    let commands = 0;
    const send = async (batch: string[]): Promise<string[]> => {
      const answers = await this.runtime.run(batch);
      commands += batch.length;
      answers.forEach((a, i) => refusedAnswer(a) && refused.push({ command: batch[i]!, answer: a }));
      return answers;
    };
    for (let round = 0; round < ROUNDS && d.differences.length; round++) {
      const answers = await send(d.differences.flatMap((x) => x.commands));
      // A join: its weight and state go as soon as HAProxy answers that it took the address, not
      // after a re-read of every server (at 16,384 slots that read is ~100 ms).
      let at = 0;
      const next = d.differences.flatMap((x) => afterAddress(x, answers.slice(at, (at += x.commands.length))));
      if (next.length) await send(next);
      actual = await this.observe();
      d = diff(desired, actual.servers);
    }
    // diff hands back the desired objects themselves: identity sets, no key per server.
    const notLive = new Set<DesiredServer>([...d.missing, ...d.differences.map((x) => x.desired)]);
    this.verified = new Map();
    for (const x of desired) if (!notLive.has(x)) this.verified.set(key(x), x);
    return { differed, drift, commands, refused, unconverged: d.differences, missing: d.missing, actual };
  }
}

const key = (d: DesiredServer) => `${d.backend}/${d.server}`;
