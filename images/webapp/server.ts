#!/usr/bin/env node
// The sample webapp leasehold balances: who answered, a per-session view counter, a slow
// streaming endpoint and a POST endpoint, so tests can behave like real clients.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { ownAddress } from '../../common/address.js';
import { int, str } from '../../common/env.js';

const COOKIE = 'NODESESSID';

function sessionId(req: IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, v] = part.trim().split('=');
    if (k === COOKIE && v && /^[a-f0-9]{32}$/.test(v)) return v;
  }
  return undefined;
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

function log(msg: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ level: 'info', time: new Date().toISOString(), name: 'webapp', msg, ...fields }));
}

const env = process.env;
const port = int(env, 'PORT', 3000, 1, 65535);
/** After SIGTERM: health answers 503 and requests are still served for this long. */
const drainMs = int(env, 'DRAIN_MS', 3000, 0, 600000);
/** Then in-flight requests (streams) get this long to finish before the process exits. */
const finishMs = int(env, 'FINISH_MS', 25000, 0, 600000);
/** Stands in for an app's own start-up (loading code, warming caches) before it listens. */
const startDelayMs = int(env, 'START_DELAY_MS', 0, 0, 600000);
const host = hostname();
const tag = str(env, 'TAG', host);
const ip = ownAddress();
const views = new Map<string, number>();
let draining = false;
let inflight = 0;

/** GET /stream?seconds=N: one line a second (bounded to 300 s), then the total. */
function stream(req: IncomingMessage, res: ServerResponse, url: URL): void {
  const seconds = Math.min(300, Math.max(0, Number(url.searchParams.get('seconds') ?? 10) || 0));
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  let sent = 0;
  const tick = () => {
    if (sent >= seconds) {
      res.end(`done ${sent} ${host}\n`);
      return;
    }
    res.write(`tick ${++sent} ${host}\n`);
    timer = setTimeout(tick, 1000);
  };
  let timer = setTimeout(tick, 0);
  req.on('close', () => clearTimeout(timer));
}

/** POST /echo: reads the body, logs the request id once, answers who handled it. */
function echo(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (d: Buffer) => {
    size += d.length;
    if (size <= 65536) chunks.push(d);
  });
  req.on('end', () => {
    if (size > 65536) return json(res, 413, { error: 'body over 64 KiB' });
    const id = String(req.headers['x-request-id'] ?? '').slice(0, 64);
    log('post', { id, bytes: size, host });
    json(res, 200, { host, tag, id, bytes: size });
  });
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  inflight++;
  res.on('close', () => inflight--);
  if (url.pathname === '/health') return json(res, draining ? 503 : 200, { status: draining ? 'draining' : 'ok', host });
  if (url.pathname === '/stream' && req.method === 'GET') return stream(req, res, url);
  if (url.pathname === '/echo' && req.method === 'POST') return echo(req, res);
  if (url.pathname !== '/') return json(res, 404, { error: 'not found' });
  let id = sessionId(req);
  const headers: Record<string, string> = {};
  if (!id) {
    id = randomBytes(16).toString('hex');
    headers['set-cookie'] = `${COOKIE}=${id}; Path=/; HttpOnly`;
  }
  const sessionViews = (views.get(id) ?? 0) + 1;
  views.set(id, sessionViews);
  json(res, 200, { hello: 'world!', ip, host, tag, sessionViews, id }, headers);
});
// Longer than HAProxy's `timeout http-keep-alive` (5 s): HAProxy, not the app, closes idle
// connections, so it never reuses one the app is closing.
server.keepAliveTimeout = 10000;

setTimeout(() => server.listen(port, () => log('listening', { port, host, ip, tag })), startDelayMs);

// Draining: /health turns 503 so the balancer stops sending, while late requests still succeed;
// then new connections are refused and in-flight requests (streams) get finishMs to end.
process.once('SIGTERM', () => {
  draining = true;
  log('draining', { drainMs, finishMs });
  setTimeout(() => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    log('finishing', { inflight });
    setTimeout(() => process.exit(0), finishMs).unref();
  }, drainMs);
});
process.once('SIGINT', () => process.exit(0));
