import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { SSE_HEARTBEAT, SSE_RETRY, sseMessage } from './sse.js';

export interface HealthReport {
  healthy: boolean;
  body: Record<string, unknown>;
}

export interface HealthServerExtras {
  /** Address to listen on. Default `127.0.0.1`: a daemon's internals are not for the network. */
  host?: string;
  /** JSON for `/status`. */
  status?: () => unknown | Promise<unknown>;
  /**
   * `/events`: a never-ending NDJSON stream. Called once per client with a sender; returns the
   * unsubscribe to call when the client goes.
   */
  events?: (send: (event: unknown) => void) => () => void;
  /**
   * The live page's files by name (`index.html`, ...), served under `/ui/`, with `/ui/status`
   * (the same JSON) and `/ui/events` (the same events as server-sent events) beside them.
   */
  page?: ReadonlyMap<string, PageFile>;
  /** More JSON for the page, by name: `/ui/<name>` (`lbs`: the other LBs' views). */
  pageJson?: Readonly<Record<string, () => unknown | Promise<unknown>>>;
  /** `/live`: like `/health`, for the container's own health check, when it asks less. */
  live?: () => HealthReport;
  /** A listen error (port taken...). The daemon goes on without its endpoint. */
  onError?: (err: Error) => void;
}

export interface PageFile {
  type: string;
  body: Buffer;
}

/** What a peer endpoint needs: the stack's CA and this daemon's certificate, PEM text. */
export interface PeerTls {
  ca: string | Buffer;
  cert: string | Buffer;
  key: string | Buffer;
  /** The Common Name a client certificate must carry (another LB's renderer). */
  peerName: string;
  /** A client refused after its handshake: a certificate of the CA, but not a peer's. */
  onRefused?: (why: string, remote: string | undefined) => void;
}

/** At most this many connections at once on a peer endpoint, handshakes included. */
const PEER_MAX_CONNECTIONS = 256;
/**
 * Per remote address: connections open at once (a peer LB's CLI runs a status or a watch or
 * two), and new connections a second. A client without a certificate can then hold a handful of
 * slots and a sliver of CPU, never all of them (a container cannot add source addresses without
 * NET_ADMIN).
 */
const PEER_OPEN_PER_ADDRESS = 8;
const PEER_CONNECTIONS_PER_SECOND = 20;
/** A handshake not done by then is dropped. */
const PEER_HANDSHAKE_MS = 2000;
/** Requests one peer connection may make; it then reconnects (bounds one pipelined burst). */
const PEER_REQUESTS_PER_SOCKET = 16;

/**
 * Bytes an `/events` client may leave unread before it is cut off (it reconnects and is sent
 * what happens from then on): a client that stops reading must not grow the daemon's memory.
 */
export const EVENTS_MAX_UNREAD = 1024 * 1024;

/** A comment on every page stream this often: proxies (HAProxy's `timeout server`) cut idle ones. */
export const SSE_HEARTBEAT_MS = 15000;

/** The page's own files: nothing loaded from elsewhere, no framing, no guessing of types. */
const PAGE_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** `/health` (200 or 503 with JSON), `/metrics` (Prometheus text), `/status` (JSON), `/events` (NDJSON), `/ui/` (the live page). */
function handler(report: () => HealthReport, metrics: (() => string) | undefined, extras: HealthServerExtras) {
  return (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health' || (path === '/live' && extras.live)) {
      const r = path === '/live' ? extras.live!() : report();
      json(res, r.healthy ? 200 : 503, r.body);
    } else if (path === '/metrics' && metrics) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metrics());
    } else if (path === '/status' && extras.status) {
      Promise.resolve(extras.status()).then(
        (body) => json(res, 200, body),
        (err: Error) => json(res, 500, { error: err.message }),
      );
    } else if (path === '/events' && extras.events) {
      res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
      stream(res, extras.events, (e) => `${JSON.stringify(e)}\n`);
    } else if (extras.page && path === '/ui') {
      // The page's links are relative to its directory.
      res.writeHead(301, { location: 'ui/' }).end();
    } else if (extras.page && path.startsWith('/ui/')) {
      page(res, path.slice('/ui/'.length) || 'index.html', extras.page, extras);
    } else {
      res.writeHead(404).end();
    }
  };
}

/** Sends every event to one client, framed, until it goes or leaves EVENTS_MAX_UNREAD unread. */
function stream(res: ServerResponse, events: NonNullable<HealthServerExtras['events']>, frame: (e: unknown) => string, heartbeatMs?: number) {
  res.flushHeaders();
  const write = (text: string) => {
    if (res.destroyed) return;
    if (res.writableLength > EVENTS_MAX_UNREAD) return void res.destroy();
    res.write(text);
  };
  const unsubscribe = events((e) => write(frame(e)));
  const beat = heartbeatMs ? setInterval(() => write(SSE_HEARTBEAT), heartbeatMs) : undefined;
  beat?.unref(); // an open page never holds a stopping daemon
  res.on('close', () => {
    clearInterval(beat);
    unsubscribe();
  });
}

/** `/ui/<name>`: the page's files, its status JSON and its event stream (SSE). */
function page(res: ServerResponse, name: string, files: ReadonlyMap<string, PageFile>, extras: HealthServerExtras) {
  const data = name === 'status' ? extras.status : extras.pageJson && Object.hasOwn(extras.pageJson, name) ? extras.pageJson[name] : undefined;
  if (data) {
    Promise.resolve(data()).then(
      (body) => {
        res.writeHead(200, { ...PAGE_HEADERS, 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      },
      (err: Error) => json(res, 500, { error: err.message }),
    );
  } else if (name === 'events' && extras.events) {
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': 'text/event-stream' });
    res.write(SSE_RETRY);
    stream(res, extras.events, (e) => sseMessage(JSON.stringify(e)), SSE_HEARTBEAT_MS);
  } else {
    const file = files.get(name);
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { ...PAGE_HEADERS, 'content-type': file.type });
    res.end(file.body);
  }
}

/**
 * A tiny HTTP server for a daemon's own health: `/health` answers 200 or 503 with JSON,
 * `/metrics` (when given) Prometheus text, `/status` and `/events` (when given). Anyone who
 * reaches its address is answered: keep it on loopback, or give it `/health` only.
 */
export function startHealthServer(port: number, report: () => HealthReport, metrics?: () => string, extras: HealthServerExtras = {}): Server {
  const server = createServer(handler(report, metrics, extras));
  server.on('error', (err) => extras.onError?.(err));
  server.listen(port, extras.host ?? '127.0.0.1');
  server.unref();
  return server;
}

/**
 * The same endpoints for peers on the network, over mutual TLS: the handshake requires a client
 * certificate of the CA, then its Common Name must be `peerName`; only then is the socket handed
 * to HTTP. A client without one never gets a byte of a request parsed.
 */
export function startPeerServer(port: number, tls: PeerTls, report: () => HealthReport, metrics?: () => string, extras: HealthServerExtras = {}): TlsServer {
  const http = createServer(handler(report, metrics, extras));
  http.maxRequestsPerSocket = PEER_REQUESTS_PER_SOCKET;
  const server = createTlsServer(
    { ca: tls.ca, cert: tls.cert, key: tls.key, requestCert: true, rejectUnauthorized: true, handshakeTimeout: PEER_HANDSHAKE_MS, minVersion: 'TLSv1.2' },
    (socket: TLSSocket) => {
      const why = peerRefusal(socket, tls.peerName);
      if (why) {
        tls.onRefused?.(why, socket.remoteAddress);
        socket.destroy();
        return;
      }
      http.emit('connection', socket);
    },
  );
  server.maxConnections = PEER_MAX_CONNECTIONS;
  const opened = new Map<string, number>();
  const recent = new Map<string, { second: number; n: number }>();
  // Before any TLS: a raw TCP connection, counted against its address.
  server.on('connection', (raw: Socket) => {
    const from = raw.remoteAddress ?? '';
    const second = Math.floor(performance.now() / 1000);
    const r = recent.get(from);
    const rate = r && r.second === second ? r : { second, n: 0 };
    rate.n++;
    if (recent.size > 10000) recent.clear();
    recent.set(from, rate);
    const open = opened.get(from) ?? 0;
    if (open >= PEER_OPEN_PER_ADDRESS || rate.n > PEER_CONNECTIONS_PER_SECOND) {
      tls.onRefused?.(open >= PEER_OPEN_PER_ADDRESS ? `${open} connections already open from this address` : `over ${PEER_CONNECTIONS_PER_SECOND} connections a second from this address`, from);
      raw.destroy();
      return;
    }
    opened.set(from, open + 1);
    raw.once('close', () => {
      const n = (opened.get(from) ?? 1) - 1;
      if (n > 0) opened.set(from, n);
      else opened.delete(from);
    });
  });
  // A failed handshake (no certificate, another CA) is the client's problem, not an error of ours.
  server.on('tlsClientError', (err, socket) => {
    tls.onRefused?.(err.message, socket.remoteAddress);
    socket.destroy();
  });
  server.on('error', (err) => extras.onError?.(err));
  server.listen(port, extras.host ?? '0.0.0.0');
  server.unref();
  return server;
}

/** Why a verified client is still no peer, or undefined when it is one. */
export function peerRefusal(socket: TLSSocket, peerName: string): string | undefined {
  if (!socket.authorized) return `certificate not verified: ${String(socket.authorizationError)}`;
  const cn = socket.getPeerCertificate()?.subject?.CN;
  const name = Array.isArray(cn) ? cn.join(',') : cn;
  return name === peerName ? undefined : `certificate names ${JSON.stringify(name ?? '')}, not ${JSON.stringify(peerName)}`;
}
