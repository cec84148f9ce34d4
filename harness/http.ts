import { request } from 'node:http';
import { connect } from 'node:net';

export interface Reply {
  /** 0 when nothing answered (refused, reset, timed out). */
  status: number;
  /** Parsed JSON, else the text (or the error message when status is 0). */
  body: any;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * One GET on a fresh connection; never throws, always settles. node:http rather than fetch:
 * fetch can leave a promise pending forever when a just-started port resets the connection.
 */
export function get(url: string, headers: Record<string, string> = {}, timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve) => {
    const fail = (e: Error) => resolve({ status: 0, body: e.message, text: '', headers: {} });
    const req = request(url, { headers, agent: false, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('error', fail);
      res.on('end', () => {
        let body: any = text;
        try {
          body = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body, text, headers: res.headers });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${timeoutMs} ms`)));
    req.on('error', fail);
    req.end();
  });
}

/** `n` GETs in sequence; returns the `tag` of each answer (or `status:<code>`). */
export async function tags(url: string, n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await get(url);
    out.push(r.status === 200 && r.body?.tag ? r.body.tag : `status:${r.status}`);
  }
  return out;
}

export interface ServerRow {
  backend: string;
  /** The server (slot) name: `s1`, `s2`... */
  server: string;
  /** HAProxy's status column: UP, DOWN, MAINT, DRAIN, `UP 1/2`... */
  status: string;
  /** `address:port` the slot points at (IPv6 in brackets). */
  addr: string;
  weight: number;
  /** Current sessions. */
  scur: number;
}

/** The server rows (no FRONTEND/BACKEND lines) of HAProxy's stats CSV at `statsUrl`. */
export async function statsServers(statsUrl: string): Promise<ServerRow[]> {
  const res = await get(`${statsUrl}/;csv`);
  if (res.status !== 200) throw new Error(`stats page answered ${res.status}: ${res.body}`);
  const lines = res.text.split('\n');
  const header = lines[0]!.replace(/^# /, '').split(',');
  const col = (r: string[], name: string) => r[header.indexOf(name)] ?? '';
  return lines
    .slice(1)
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.split(','))
    // Not the LB's own backends (`leasehold:page`): nodes only.
    .filter((r) => r[1] !== 'FRONTEND' && r[1] !== 'BACKEND' && !r[0]!.includes(':'))
    .map((r) => ({ backend: r[0]!, server: r[1]!, status: col(r, 'status'), addr: col(r, 'addr'), weight: Number(col(r, 'weight')), scur: Number(col(r, 'scur')) }));
}

/** A slot with a node: anything but maintenance (UP, DOWN, DRAIN, going up or down). */
export const inRotation = (r: ServerRow) => r.status !== '' && !r.status.startsWith('MAINT');

/** The `name=value` parts of a reply's Set-Cookie headers, ready for a Cookie header. */
export function cookies(r: Reply): string {
  const set = r.headers['set-cookie'] ?? [];
  return (Array.isArray(set) ? set : [set]).map((c) => c.split(';')[0]).join('; ');
}

/**
 * Sends `text` as it is on a fresh connection to 127.0.0.1:`port` and reads until the server
 * closes: a request node:http cannot make (no Host header, HTTP/1.0). Never throws; status 0
 * when nothing answered.
 */
export function rawRequest(port: number, text: string, timeoutMs = 5000): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve) => {
    let reply = '';
    const s = connect(port, '127.0.0.1', () => s.end(text));
    s.setEncoding('utf8');
    s.setTimeout(timeoutMs, () => s.destroy());
    s.on('data', (d: string) => (reply += d));
    s.on('error', () => undefined);
    s.on('close', () => {
      const at = reply.indexOf('\r\n\r\n');
      const headers = at < 0 ? reply : reply.slice(0, at);
      resolve({ status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(headers)?.[1] ?? 0), headers, body: at < 0 ? '' : reply.slice(at + 4) });
    });
  });
}
