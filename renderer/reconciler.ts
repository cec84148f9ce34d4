import { type DesiredServer, type Difference, afterAddress, diff, fingerprint, refusedAnswer, sameAddress } from './diff.js';
import { parseStatAddresses } from './runtime-state.js';
import type { RuntimeChannel } from './runtime.js';
import type { ActualServer } from './slots.js';
import type { Actual } from './observe.js';

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
 * Reconciles membership, level-triggered: desired servers against the worker's, commands for what differs,
 * a re-read of the servers it touched, and again, until nothing differs or the rounds run out. Nothing is assumed applied
 * until a re-read shows it, except an address HAProxy answered it took and shows applied: the
 * server's weight and state follow it at once (still verified by the re-read).
 */
export class Reconciler {
  /** Each server's desired state when a re-read last showed it live (compared by fingerprint). */
  private verified = new Map<string, DesiredServer>();

  constructor(
    private readonly runtime: Pick<RuntimeChannel, 'run'>,
    /** Reads back the servers commands touched (of `last`, the read they came from). */
    private readonly observe: (touched: ActualServer[], last: Actual) => Promise<Actual>,
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
      // A join: its weight and state go as soon as HAProxy says it took the address and shows it
      // applied, not after a re-read of every server (at 16,384 slots that read is ~100 ms).
      let at = 0;
      const next = d.differences.map((x) => ({ x, commands: afterAddress(x, answers.slice(at, (at += x.commands.length))) })).filter((f) => f.commands.length);
      const ready = await this.applied(next.map((f) => f.x));
      const follow = next.filter((f) => ready.has(f.x)).flatMap((f) => f.commands);
      if (follow.length) await send(follow);
      // Only what the commands touched is read back: the whole table waits for the resync.
      actual = await this.observe(d.differences.map((x) => x.actual), actual);
      d = diff(desired, actual.servers);
    }
    // diff hands back the desired objects themselves: identity sets, no key per server.
    const notLive = new Set<DesiredServer>([...d.missing, ...d.differences.map((x) => x.desired)]);
    this.verified = new Map();
    for (const x of desired) if (!notLive.has(x)) this.verified.set(key(x), x);
    return { differed, drift, commands, refused, unconverged: d.differences, missing: d.missing, actual };
  }

  /**
   * Of these servers with a new address, the ones whose address is applied now: since HAProxy 2.9
   * the answer to `set server … addr` comes before a task applies it, and a server put in rotation
   * before that would be sent traffic at the previous address. One `show stat` line each.
   */
  private async applied(xs: Difference[]): Promise<Set<Difference>> {
    const asked = xs.filter((x) => x.actual.id !== undefined);
    if (!asked.length) return new Set();
    const answers = await this.runtime.run(asked.map((x) => `show stat ${x.actual.backend} 4 ${x.actual.id}`));
    return new Set(asked.filter((x, i) => {
      const now = parseStatAddresses(answers[i] ?? '').get(`${x.actual.backend}/${x.actual.server}`);
      return now !== undefined && now.port === x.desired.port && sameAddress(now.address, x.desired.address!);
    }));
  }
}

const key = (d: DesiredServer) => `${d.backend}/${d.server}`;
