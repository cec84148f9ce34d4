import type { ServerStats } from '../common/status.js';
import type { ActualServer } from './slots.js';

/** The variable a rendered config sets to the id of its structure (see structureId). */
export const STRUCTURE_VAR = 'proc.leasehold_structure';

/**
 * Parses `show servers state`: one line per server after a version line and a `#` header.
 * Fields by position (stable since HAProxy 1.6): be_id be_name srv_id srv_name srv_addr
 * srv_op_state srv_admin_state srv_uweight srv_iweight ... srv_port (19th).
 */
export function parseServersState(text: string): ActualServer[] {
  const out: ActualServer[] = [];
  // 10,000 servers make a 1 MB answer: split each line only as far as the port.
  for (const line of text.split('\n')) {
    if (line.length < 20 || line.charCodeAt(0) === 35 /* # */) continue;
    const f = line.split(' ', 19);
    if (f.length < 19 || !/^\d+$/.test(f[0]!)) continue;
    // The LB's own backends (`leasehold:page`) bear a name no service can: not membership.
    if (f[1]!.includes(':')) continue;
    out.push({ backend: f[1]!, server: f[3]!, id: Number(f[2]), address: f[4]!, admin: Number(f[6]), weight: Number(f[7]), port: Number(f[18]) });
  }
  return out;
}

/**
 * The server rows of `show stat` CSV (FRONTEND and BACKEND rows left out), each with its
 * `backend/server` and its fields, and the column of a field by name (-1 if absent). No rows
 * when a column in `need` (or pxname, svname) is missing.
 */
function statServers(text: string, need: string[] = []): { col: (name: string) => number; rows: { key: string; f: string[] }[] } {
  const lines = text.split('\n');
  const header = lines.find((l) => l.startsWith('# '))?.slice(2).split(',') ?? [];
  const col = (name: string) => header.indexOf(name);
  const [px, sv] = [col('pxname'), col('svname')];
  const rows: { key: string; f: string[] }[] = [];
  if (px < 0 || sv < 0 || need.some((n) => col(n) < 0)) return { col, rows };
  for (const line of lines) {
    if (!line || line.startsWith('#')) continue;
    const f = line.split(',');
    if (f[sv] === 'FRONTEND' || f[sv] === 'BACKEND') continue;
    rows.push({ key: `${f[px]}/${f[sv]}`, f });
  }
  return { col, rows };
}

/** Current sessions and queued requests per `backend/server`, from `show stat` CSV. */
export function parseStatSessions(text: string): Map<string, number> {
  const { col, rows } = statServers(text, ['scur']);
  const [scur, qcur] = [col('scur'), col('qcur')];
  return new Map(rows.map(({ key, f }) => [key, Number(f[scur] || 0) + (qcur >= 0 ? Number(f[qcur] || 0) : 0)]));
}

/** Status, sessions (current + queued) and weight per `backend/server`, from `show stat` CSV. */
export function parseStatRows(text: string): Map<string, ServerStats> {
  const { col, rows } = statServers(text);
  const [scur, qcur, status, weight] = [col('scur'), col('qcur'), col('status'), col('weight')];
  return new Map(rows.map(({ key, f }) => [key, { status: f[status] ?? '', sessions: Number(f[scur] || 0) + Number(f[qcur] || 0), weight: Number(f[weight] || 0) }]));
}

/**
 * The address and port each server uses now, from `show stat` CSV (`addr`: `10.0.0.5:3000` or
 * `[2001:db8::5]:3000`). Since HAProxy 2.9 a `set server … addr` is applied by a task after its
 * answer; this column shows what is applied.
 */
export function parseStatAddresses(text: string): Map<string, { address: string; port: number }> {
  const { col, rows } = statServers(text, ['addr']);
  const addr = col('addr');
  const out = new Map<string, { address: string; port: number }>();
  for (const { key, f } of rows) {
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(f[addr] ?? '');
    if (m) out.set(key, { address: m[1]!, port: Number(m[2]) });
  }
  return out;
}

/** Admin bits a `show stat` status proves; undefined when it proves none (see parseStatServers). */
function statusBits(status: string): number | undefined {
  if (status.startsWith('MAINT (via')) return 0x02;
  if (status.startsWith('MAINT (resolution')) return 0x20;
  if (status.startsWith('MAINT')) return 0x01;
  if (status === 'DRAIN') return 0x08;
  if (status.startsWith('UP') || status === 'no check') return 0;
  // DOWN and NOLB hide a drain (a drained server whose check fails shows DOWN): unknown.
  return undefined;
}

/** One server as `show stat` shows it: what a read-back of the servers a change touched needs. */
export interface StatServer {
  address: string;
  port: number;
  /** The weight set by the runtime API or the config (`uweight`). */
  weight: number;
  /** The maintenance and drain bits its status proves, or undefined (read `show servers state`). */
  admin?: number;
}

/**
 * Address, user weight and admin state per `backend/server`, from `show stat` CSV: one line per
 * server asked about, where `show servers state` can only be read a whole backend at a time.
 * No rows without the `addr`, `uweight` and `status` columns (HAProxy before 2.4).
 */
export function parseStatServers(text: string): Map<string, StatServer> {
  const { col, rows } = statServers(text, ['addr', 'uweight', 'status']);
  const [addr, uweight, status] = [col('addr'), col('uweight'), col('status')];
  const out = new Map<string, StatServer>();
  for (const { key, f } of rows) {
    const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(f[addr] ?? '');
    if (m) out.set(key, { address: m[1]!, port: Number(m[2]), weight: Number(f[uweight]), admin: statusBits(f[status] ?? '') });
  }
  return out;
}

/** The value of `get var <name>` (`name: type=str value=<v>`), or undefined if not set. */
export function parseVar(text: string): string | undefined {
  return /value=<([^>]*)>/.exec(text)?.[1];
}
