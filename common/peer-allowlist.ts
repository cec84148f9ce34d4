// Who may use a daemon's HTTP endpoints when they listen beyond loopback: loopback itself and
// the addresses that named peers (the other LBs) resolve to. Names are looked up again when an
// unknown address knocks (at most once a second), so a restarted peer with a new address gets in,
// and every 30 s at the latest, so an address a peer no longer has is forgotten.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export type LookupAll = (name: string) => Promise<string[]>;

const systemLookup: LookupAll = async (name) => (await lookup(name, { all: true })).map((a) => a.address);

/** `::ffff:10.0.0.1` → `10.0.0.1`: an IPv4 client on a dual-stack socket. */
export function plainAddress(remote: string): string {
  return remote.toLowerCase().startsWith('::ffff:') && isIP(remote.slice(7)) === 4 ? remote.slice(7) : remote;
}

export function isLoopback(remote: string): boolean {
  const a = plainAddress(remote);
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

export class PeerAllowlist {
  private known = new Set<string>();
  private lookedUpAt = -Infinity;
  private pending?: Promise<void>;

  constructor(
    readonly peers: readonly string[],
    private readonly lookupAll: LookupAll = systemLookup,
    /** Monotonic ms: the look-ups' pace must not follow wall-clock steps. */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True for loopback and the peers' addresses; may look the peers up again first. */
  async allows(remote: string | undefined): Promise<boolean> {
    if (!remote) return false;
    if (isLoopback(remote)) return true;
    const a = plainAddress(remote);
    // Known addresses expire too: a peer recreated elsewhere must not leave its old address open
    // to whichever container gets it next.
    if (this.now() - this.lookedUpAt >= 30000) await this.refresh();
    if (this.known.has(a)) return true;
    if (this.now() - this.lookedUpAt >= 1000) await this.refresh();
    return this.known.has(a);
  }

  private refresh(): Promise<void> {
    this.pending ??= (async () => {
      this.lookedUpAt = this.now();
      const found = new Set<string>();
      // A peer that does not resolve (stopped) simply adds nothing.
      const answers = await Promise.allSettled(this.peers.map((p) => (isIP(p) ? Promise.resolve([p]) : this.lookupAll(p))));
      for (const r of answers) if (r.status === 'fulfilled') for (const addr of r.value) found.add(plainAddress(addr));
      this.known = found;
    })().finally(() => (this.pending = undefined));
    return this.pending;
  }
}
