import { request } from 'node:http';

export interface Sample {
  /** ms since the load started */
  at: number;
  status: number;
  latencyMs: number;
  tag?: string;
  host?: string;
  error?: string;
}

export interface LoadResult {
  samples: Sample[];
  failed: Sample[];
  ok: number;
  p50: number;
  p99: number;
}

/**
 * A bounded GET load: `rps` requests a second, each on a fresh connection (many independent
 * clients), until stopped, `maxSeconds` pass or `maxRequests` are sent, whichever is first.
 */
export function startLoad(url: string, o: { rps: number; maxSeconds: number; maxRequests?: number }) {
  const samples: Sample[] = [];
  const started = Date.now();
  const maxRequests = o.maxRequests ?? o.rps * o.maxSeconds;
  let sent = 0;
  let stopped = false;
  const inflight = new Set<Promise<void>>();

  const one = () =>
    new Promise<void>((resolve) => {
      const t0 = Date.now();
      const req = request(url, { agent: false, timeout: 10000, headers: { connection: 'close' } }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          let tag: string | undefined;
          let host: string | undefined;
          try {
            ({ tag, host } = JSON.parse(body));
          } catch {
            /* not JSON: an HAProxy error page */
          }
          samples.push({ at: t0 - started, status: res.statusCode ?? 0, latencyMs: Date.now() - t0, tag, host });
          resolve();
        });
        res.on('error', (e) => {
          samples.push({ at: t0 - started, status: 0, latencyMs: Date.now() - t0, error: e.message });
          resolve();
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        samples.push({ at: t0 - started, status: 0, latencyMs: Date.now() - t0, error: e.message });
        resolve();
      });
      req.end();
    });

  const done = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1000) * o.rps);
      while (sent < due && sent < maxRequests && !stopped) {
        sent++;
        const p = one().finally(() => inflight.delete(p));
        inflight.add(p);
      }
      if (stopped || sent >= maxRequests || Date.now() - started >= o.maxSeconds * 1000) {
        clearInterval(timer);
        resolve();
      }
    }, 5);
  });

  return {
    samples,
    /** Stops sending, waits for the requests in flight, and summarizes. */
    async stop(): Promise<LoadResult> {
      stopped = true;
      await done;
      await Promise.all([...inflight]);
      return summarize(samples);
    },
  };
}

export function summarize(samples: Sample[]): LoadResult {
  const failed = samples.filter((s) => s.status !== 200);
  const lat = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  const pct = (p: number) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))]! : 0);
  return { samples, failed, ok: samples.length - failed.length, p50: pct(50), p99: pct(99) };
}
