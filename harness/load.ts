import { Agent, request } from 'node:http';

export interface Sample {
  /** ms since the load started */
  at: number;
  status: number;
  latencyMs: number;
  /** Which virtual client sent it. */
  client: number;
  tag?: string;
  host?: string;
  /** The request id a POST carried. */
  id?: string;
  /** The session's view counter (GET /), for stickiness checks. */
  views?: number;
  error?: string;
}

export interface LoadResult {
  samples: Sample[];
  failed: Sample[];
  ok: number;
  p50: number;
  p99: number;
}

export interface LoadOptions {
  rps: number;
  maxSeconds: number;
  maxRequests?: number;
  /**
   * `keepalive` (default): `clients` clients, each on one persistent connection, as browsers,
   * SDKs and upstream proxies talk. `fresh`: a new connection for every request.
   */
  mode?: 'keepalive' | 'fresh';
  /** Virtual clients the requests are spread over. Default 10. */
  clients?: number;
  /** Each client keeps the cookies it is given and sends them back (sticky sessions). */
  cookies?: boolean;
  /** `POST /echo` with a unique `x-request-id` instead of `GET /`. */
  post?: boolean;
  /** Request timeout, ms. Default 10000. */
  timeoutMs?: number;
  /** The Host header (a routed service), and the path GET asks for. Defaults: the URL's, `/`. */
  host?: string;
  path?: string;
}

interface Client {
  agent?: Agent;
  jar: Map<string, string>;
}

/**
 * A bounded load: `rps` requests a second spread over virtual clients, until stopped,
 * `maxSeconds` pass or `maxRequests` are sent, whichever is first. Any answer but 200, and any
 * connection error (a reset keep-alive connection included), is a failure.
 */
export function startLoad(url: string, o: LoadOptions) {
  const samples: Sample[] = [];
  const started = Date.now();
  const maxRequests = o.maxRequests ?? o.rps * o.maxSeconds;
  const target = new URL(o.post ? '/echo' : (o.path ?? '/'), url);
  const clients: Client[] = Array.from({ length: o.clients ?? 10 }, () => ({
    agent: o.mode === 'fresh' ? undefined : new Agent({ keepAlive: true, maxSockets: 1 }),
    jar: new Map(),
  }));
  let sent = 0;
  let stopped = false;
  const inflight = new Set<Promise<void>>();

  const one = (n: number, c: Client) =>
    new Promise<void>((resolve) => {
      const t0 = Date.now();
      const id = o.post ? `r${started}-${n}` : undefined;
      const headers: Record<string, string> = {};
      if (o.mode === 'fresh') headers.connection = 'close';
      if (o.host) headers.host = o.host;
      if (o.cookies && c.jar.size) headers.cookie = [...c.jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const body = o.post ? JSON.stringify({ id, pad: 'x'.repeat(512) }) : undefined;
      if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-request-id': id! });
      const client = clients.indexOf(c);
      let settled = false;
      const done = (s: Omit<Sample, 'at' | 'latencyMs' | 'client' | 'id'>) => {
        if (settled) return;
        settled = true;
        samples.push({ at: t0 - started, latencyMs: Date.now() - t0, client, id, ...s });
        resolve();
      };
      const req = request(target, { method: o.post ? 'POST' : 'GET', agent: c.agent ?? false, timeout: o.timeoutMs ?? 10000, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('error', (e) => done({ status: 0, error: e.message }));
        res.on('end', () => {
          for (const sc of [res.headers['set-cookie'] ?? []].flat()) {
            const [kv] = sc.split(';');
            const [k, v] = kv!.split('=');
            if (!k) continue;
            if (v) c.jar.set(k.trim(), v.trim());
            else c.jar.delete(k.trim()); // an expired cookie (HAProxy clears SERVERID of a gone server)
          }
          let parsed: { tag?: string; host?: string; sessionViews?: number } = {};
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON: an HAProxy error page, or the static app's `static <hostname>`
            const m = /^static (\S+)/.exec(text);
            if (m && (res.statusCode ?? 0) === 200) parsed = { host: m[1] };
          }
          done({ status: res.statusCode ?? 0, tag: parsed.tag, host: parsed.host, views: parsed.sessionViews });
        });
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => done({ status: 0, error: `${(e as NodeJS.ErrnoException).code ?? ''} ${e.message}`.trim() }));
      req.end(body);
    });

  const done = new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.floor(((Date.now() - started) / 1000) * o.rps);
      while (sent < due && sent < maxRequests && !stopped) {
        const n = sent++;
        const p = one(n, clients[n % clients.length]!).finally(() => inflight.delete(p));
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
    /** Stops sending, waits for the requests in flight, closes the connections, and summarizes. */
    async stop(): Promise<LoadResult> {
      stopped = true;
      await done;
      await Promise.all([...inflight]);
      for (const c of clients) c.agent?.destroy();
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

/** A GET that streams for `seconds`: resolves with what arrived and whether it ended cleanly. */
export function streamRequest(url: string, seconds: number): Promise<{ status: number; lines: string[]; complete: boolean; error?: string; ms: number }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    let text = '';
    const req = request(new URL(`/stream?seconds=${seconds}`, url), { agent: new Agent({ keepAlive: true }), timeout: (seconds + 30) * 1000 }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('error', (e) => finish(res.statusCode ?? 0, e.message));
      res.on('end', () => finish(res.statusCode ?? 0));
    });
    let settled = false;
    const finish = (status: number, error?: string) => {
      if (settled) return;
      settled = true;
      const lines = text.split('\n').filter(Boolean);
      resolve({ status, lines, complete: !error && lines.length === seconds + 1 && lines.at(-1)!.startsWith(`done ${seconds}`), error, ms: Date.now() - t0 });
    };
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => finish(0, e.message));
    req.end();
  });
}
