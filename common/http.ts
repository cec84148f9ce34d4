import { request } from 'node:http';

/**
 * GETs `url` and resolves with its status code, or 0 when nothing answered in time (`timeoutMs`
 * of silence on the socket) or `signal` aborted first.
 * node:http rather than fetch: Node 18's fetch logs an experimental warning that breaks JSON logs.
 */
export function httpStatus(url: string, timeoutMs: number, signal?: AbortSignal): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { method: 'GET', timeout: timeoutMs, agent: false, ...(signal ? { signal } : {}) }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', () => resolve(0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end();
  });
}
