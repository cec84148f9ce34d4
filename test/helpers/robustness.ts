// The pure parts of the robustness suite: the fault schedule (seeded), the hostile
// records, a registrar clock whose wall time steps, and the replayable log.
import { randomInt } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Clock, systemClock } from '../../registrar/clock.js';
import { seeded } from '../../harness/random.js';

export const randomSeed = (): number => randomInt(1, 2 ** 31 - 1);

export const FAULT_KINDS = ['stall', 'slow', 'clock-step', 'hostile', 'etcd-restart', 'renderer-restart', 'scale-down', 'crash', 'join'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** One fault, as drawn: `pick` chooses the target(s) among those eligible when it runs. */
export interface FaultSpec {
  n: number;
  /** ms after the fault phase starts */
  at: number;
  kind: FaultKind;
  params: Record<string, number | string | boolean>;
}

const WEIGHTS: Record<FaultKind, number> = { stall: 3, slow: 2, 'clock-step': 2, hostile: 2, 'etcd-restart': 1, 'renderer-restart': 1.5, 'scale-down': 1.5, crash: 1.5, join: 3 };

/** The number of hostile record variants (see hostileRecord). */
export const HOSTILE_VARIANTS = 12;

/**
 * The faults of one run: every kind once (in a seeded order) so that each run covers them all,
 * then weighted draws, `gapMs` apart, until `durationMs`.
 */
export function makeSchedule(seed: number, durationMs: number, gapMs: [number, number] = [800, 2800]): FaultSpec[] {
  const r = seeded(seed);
  const between = (lo: number, hi: number) => lo + r() * (hi - lo);
  const int = (lo: number, hi: number) => Math.floor(between(lo, hi + 1));
  const kinds: FaultKind[] = [...FAULT_KINDS];
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  const total = Object.values(WEIGHTS).reduce((a, b) => a + b, 0);
  const draw = (): FaultKind => {
    let x = r() * total;
    for (const k of FAULT_KINDS) if ((x -= WEIGHTS[k]) < 0) return k;
    return 'join';
  };
  let oversized = 0;
  const seen = new Set<FaultKind>();
  const params = (kind: FaultKind): FaultSpec['params'] => {
    const pick = r();
    // The first crash and scale-down of a run take every process node but one: fail static
    // holds the crashed ones (more than half the service), the graceful ones go at once.
    const first = !seen.has(kind);
    seen.add(kind);
    switch (kind) {
      case 'stall':
        return { pick, ms: Math.round(between(500, 3000)) };
      case 'slow':
        return { pick, ms: Math.round(between(2000, 5000)), periodMs: 200, stoppedShare: Math.round(between(0.5, 0.8) * 100) / 100 };
      case 'clock-step': {
        const ms = Math.round(10 ** between(3, 8));
        return { pick, stepMs: r() < 0.5 ? -ms : ms };
      }
      case 'hostile': {
        // At most two of the 1.5 MiB values a run: each re-list carries them all.
        let variant = int(0, HOSTILE_VARIANTS - 1);
        if (variant === 0 && ++oversized > 2) variant = 1;
        return { variant };
      }
      case 'etcd-restart':
        return { kill: r() < 0.5, downMs: Math.round(between(500, 3000)) };
      case 'renderer-restart':
        return { kill: r() < 0.5, downMs: Math.round(between(300, 2000)) };
      case 'scale-down':
        return { pick, count: first ? 99 : int(2, 5) };
      case 'crash':
        return { pick, count: first ? 99 : int(1, 4) };
      case 'join':
        return { count: int(1, 3) };
    }
  };
  const out: FaultSpec[] = [];
  let at = 0;
  while (at < durationMs) {
    const kind = out.length < kinds.length ? kinds[out.length]! : draw();
    out.push({ n: out.length, at: Math.round(at), kind, params: params(kind) });
    at += between(gapMs[0], gapMs[1]);
  }
  return out;
}

/** The system clock, except that wall() can be stepped as NTP or an operator would. */
export class SteppingClock implements Clock {
  offsetMs = 0;
  monotonic = () => systemClock.monotonic();
  wall = () => Date.now() + this.offsetMs;
  sleep = (ms: number, signal?: AbortSignal) => systemClock.sleep(ms, signal);
}

/** The first port of the range the hostile records point at: nothing listens there. */
export const HOSTILE_PORT_BASE = 1100;

export interface HostileRecord {
  what: string;
  key: string;
  value: string;
  leased: boolean;
  /** Server addresses (`ip:port`, IPv6 bare) that would show in HAProxy if it were served. */
  addrs: string[];
  /** Node ids that would show in the config's comments if it were served. */
  ids: string[];
}

const MiB = 1024 * 1024;

/** This host's first non-loopback IPv4 address: a node address outside 127.0.0.0/8 that stays on this machine. */
function ownAddress(): string | undefined {
  return Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
}

/**
 * Hostile record number `n` of kind `variant`. Every one must stay out of HAProxy; any address one
 * names is on this machine (loopback or its own), so a served one sends no traffic elsewhere.
 * `lb`: the ports and etcd endpoint a record must never reach.
 */
export function hostileRecord(variant: number, n: number, lb: { frontPort: number; etcdPort: number }): HostileRecord {
  const port = HOSTILE_PORT_BASE + (n % 100);
  const id = `hostile${n}`;
  const rec = (o: Record<string, unknown> = {}) => JSON.stringify({ id, service: 'webapp', address: '127.0.0.1', port, tag: id, weight: 1, state: 'up', registeredAt: new Date().toISOString(), ...o });
  const at = (address: string, what: string, p = port): HostileRecord => ({ what, key: `/nodes/webapp/${id}`, value: rec({ address, port: p }), leased: true, addrs: [`${address}:${p}`], ids: [id] });
  switch (variant) {
    case 0: {
      // About the largest value etcd takes by default, under a key that would inject a server line.
      const key = `/nodes/webapp/${id}\n    server evil 127.0.0.1:${port}`;
      const value = rec({ pad: 'x'.repeat(1.5 * MiB - 2048) });
      return { what: 'oversized value (~1.5 MiB) under a key carrying a server line', key, value, leased: true, addrs: [`127.0.0.1:${port}`], ids: [id, 'evil'] };
    }
    case 1:
      return { what: 'bad JSON', key: `/nodes/webapp/${id}`, value: rec().slice(0, -7), leased: true, addrs: [`127.0.0.1:${port}`], ids: [id] };
    case 2:
      return { what: 'wrong service in the key', key: `/nodes/webapp/${id}`, value: rec({ service: 'admin' }), leased: true, addrs: [`127.0.0.1:${port}`], ids: [id] };
    case 3: {
      const bad = [0, 65536, -1, 80.5][n % 4]!;
      return { what: `port ${bad}`, key: `/nodes/webapp/${id}`, value: rec({ port: bad }), leased: true, addrs: [`127.0.0.1:${bad}`], ids: [id] };
    }
    case 4:
      return at('::1', 'address ::1 (loopback, outside 127.0.0.0/8)');
    case 5: {
      const own = ownAddress();
      return own ? at(own, `address ${own} (this host's own, outside 127.0.0.0/8)`) : at('::1', 'address ::1 (no own IPv4 address)');
    }
    case 6:
      return at(n % 2 ? '0.0.0.0' : '::ffff:127.0.0.1', n % 2 ? 'address 0.0.0.0' : 'address ::ffff:127.0.0.1 (IPv4-mapped)');
    case 7:
      return { ...at('127.0.0.1', 'no lease (a plain put)'), leased: false };
    case 8:
      return at('127.0.0.1', "etcd's own client endpoint", lb.etcdPort);
    case 9:
      return at('127.0.0.1', "the load balancer's own frontend", lb.frontPort);
    case 10:
      return { what: 'service not routed by this LB', key: `/nodes/admin/${id}`, value: rec({ service: 'admin' }), leased: true, addrs: [`127.0.0.1:${port}`], ids: [id] };
    default:
      return { what: 'id not matching the key, key of three parts', key: `/nodes/webapp/${id}/x`, value: rec({ id: 'other' }), leased: true, addrs: [`127.0.0.1:${port}`], ids: [id, 'other'] };
  }
}

/** Writes the replayable log of a failed run to a new temp dir; returns its path. */
export function writeReplayLog(seed: number, content: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-robustness-'));
  const path = join(dir, `seed-${seed}.json`);
  writeFileSync(path, `${JSON.stringify({ seed, replay: `ROBUSTNESS_SEED=${seed} npx ava --serial test/integration/robustness.test.ts`, ...content }, null, 2)}\n`);
  return path;
}
