import { createServer, type Server } from 'node:http';

export interface HealthReport {
  healthy: boolean;
  body: Record<string, unknown>;
}

/**
 * A tiny HTTP server for a daemon's own health: `/health` answers 200 or 503 with JSON,
 * `/metrics` (when given) answers Prometheus text.
 */
export function startHealthServer(port: number, report: () => HealthReport, metrics?: () => string): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/health') {
      const r = report();
      res.writeHead(r.healthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r.body));
    } else if (path === '/metrics' && metrics) {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(metrics());
    } else {
      res.writeHead(404).end();
    }
  });
  server.listen(port);
  server.unref();
  return server;
}
