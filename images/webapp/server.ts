#!/usr/bin/env node
// The sample webapp leasehold balances: who answered, and a per-session view counter.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import { int, str } from '../../common/env.js';
import { ownAddress } from '../../common/address.js';

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

const env = process.env;
const port = int(env, 'PORT', 3000, 1, 65535);
const drainMs = int(env, 'DRAIN_MS', 3000, 0, 600000);
const host = hostname();
const tag = str(env, 'TAG', host);
const ip = ownAddress();
const views = new Map<string, number>();
let draining = false;

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/health') {
    json(res, draining ? 503 : 200, { status: draining ? 'draining' : 'ok', host });
    return;
  }
  if (path !== '/') {
    json(res, 404, { error: 'not found' });
    return;
  }
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
server.keepAliveTimeout = 5000;

server.listen(port, () => {
  console.log(JSON.stringify({ level: 'info', name: 'webapp', msg: 'listening', port, host, ip, tag }));
});

// Draining: /health turns 503 so the balancer stops sending, while late requests still succeed.
process.once('SIGTERM', () => {
  draining = true;
  console.log(JSON.stringify({ level: 'info', name: 'webapp', msg: 'draining', drainMs }));
  setTimeout(() => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  }, drainMs);
});
process.once('SIGINT', () => process.exit(0));
