import { createServer, type Server } from 'node:http';

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
   * Who may connect, by remote address; others are cut off before a byte is read. Default: all
   * (the default host is loopback).
   */
  allow?: (remote: string | undefined) => Promise<boolean>;
  /** A connection refused by `allow`. */
  onRefused?: (remote: string | undefined) => void;
  /** A listen error (port taken...). The daemon goes on without its endpoint. */
  onError?: (err: Error) => void;
}

/**
 * A tiny HTTP server for a daemon's own health: `/health` answers 200 or 503 with JSON,
 * `/metrics` (when given) Prometheus text, `/status` (when given) JSON.
 */
export function startHealthServer(port: number, report: () => HealthReport, metrics?: () => string, extras: HealthServerExtras = {}): Server {
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      const r = report();
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
      res.flushHeaders();
      const unsubscribe = extras.events((e) => res.write(`${JSON.stringify(e)}\n`));
      res.on('close', unsubscribe);
    } else {
      res.writeHead(404).end();
    }
  });
  server.on('error', (err) => extras.onError?.(err));
  if (extras.allow) {
    const allow = extras.allow;
    server.on('connection', (socket) => {
      socket.pause();
      allow(socket.remoteAddress).then(
        (ok) => {
          if (ok) return socket.resume();
          extras.onRefused?.(socket.remoteAddress);
          socket.destroy();
        },
        () => socket.destroy(),
      );
    });
  }
  server.listen(port, extras.host ?? '127.0.0.1');
  server.unref();
  return server;
}
