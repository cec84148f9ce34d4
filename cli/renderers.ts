// The renderers' HTTP endpoints: `/status` (one JSON document) and `/events` (NDJSON, forever).
import { type IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { PeerCertificate } from 'node:tls';
import type { StatusBody } from '../common/status.js';
import type { RendererReply, WatchEvent } from './report.js';

/** Largest `/status` body read, bytes (10,000 nodes make a few MB). */
const MAX_STATUS_BYTES = 64 << 20;

/** The client side of a renderer's peer endpoint (mutual TLS): PEM text, and the Common Name it must show. */
export interface RendererTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  name: string;
}

/**
 * TLS options for an https:// renderer: our certificate, the stack's CA, and the renderer's
 * identity by Common Name (one peer certificate serves every LB, whatever its host name).
 */
function tlsOptions(tls: RendererTls) {
  return {
    ca: tls.ca,
    cert: tls.cert,
    key: tls.key,
    checkServerIdentity: (_host: string, cert: PeerCertificate) =>
      cert.subject?.CN === tls.name ? undefined : new Error(`the renderer's certificate names ${JSON.stringify(cert.subject?.CN ?? '')}, not ${JSON.stringify(tls.name)}`),
  };
}

function get(url: string, timeoutMs: number | undefined, onResponse: (res: IncomingMessage) => void, onError: (err: Error) => void, tls?: RendererTls) {
  const options = { method: 'GET', agent: false, timeout: timeoutMs, headers: { accept: 'application/json' } } as const;
  const req = url.startsWith('https:') ? httpsRequest(url, { ...options, ...(tls ? tlsOptions(tls) : {}) }, onResponse) : httpRequest(url, options, onResponse);
  req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
  req.on('error', onError);
  req.end();
  return req;
}

const reason = (err: Error) => ((err as NodeJS.ErrnoException).code && !err.message.includes((err as NodeJS.ErrnoException).code!) ? `${(err as NodeJS.ErrnoException).code} ${err.message}` : err.message);

/** GETs `<url>/status`. Never throws: an unreachable renderer is an answer with `error`. */
export function fetchStatus(url: string, timeoutMs = 3000, tls?: RendererTls): Promise<RendererReply> {
  return new Promise((resolve) => {
    const fail = (error: string) => resolve({ url, error });
    get(
      `${url}/status`,
      timeoutMs,
      (res) => {
        let body = '';
        let size = 0;
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          size += d.length;
          if (size > MAX_STATUS_BYTES) res.destroy(new Error('answer too large'));
          else body += d;
        });
        res.on('error', (err) => fail(reason(err)));
        res.on('end', () => {
          if (res.statusCode !== 200) return fail(`/status answered ${res.statusCode}${res.statusCode === 404 ? ' (a renderer older than the CLI?)' : ''}`);
          try {
            const status = JSON.parse(body) as Partial<StatusBody>;
            if (!status || typeof status !== 'object') return fail('/status is not a JSON object');
            resolve({ url, status });
          } catch {
            fail('/status is not JSON');
          }
        });
      },
      (err) => fail(reason(err)),
      tls,
    );
  });
}

/** Every renderer's `/status`, asked at once, in the order given. */
export function fetchAll(urls: string[], timeoutMs?: number, tls?: RendererTls): Promise<RendererReply[]> {
  return Promise.all(urls.map((u) => fetchStatus(u, timeoutMs, tls)));
}

export interface EventStream {
  /** Resolves once the stream is open (true), or could not be opened (false, with the reason). */
  opened: Promise<{ ok: true } | { ok: false; error: string }>;
  /** Resolves when the stream ends or fails after it opened, with the reason. */
  ended: Promise<string>;
  close(): void;
}

/** Follows `<url>/events`: one call of `onEvent` per NDJSON line. Lines that are not JSON objects are skipped. */
export function followEvents(url: string, onEvent: (e: WatchEvent) => void, connectTimeoutMs = 3000, tls?: RendererTls): EventStream {
  let resolveOpened!: (v: { ok: true } | { ok: false; error: string }) => void;
  let resolveEnded!: (why: string) => void;
  const opened = new Promise<{ ok: true } | { ok: false; error: string }>((r) => (resolveOpened = r));
  const ended = new Promise<string>((r) => (resolveEnded = r));
  let isOpen = false;
  let closed = false;
  const finish = (why: string) => {
    if (!isOpen) resolveOpened({ ok: false, error: why });
    resolveEnded(why);
  };
  const req = get(
    `${url}/events`,
    connectTimeoutMs,
    (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return finish(`/events answered ${res.statusCode}${res.statusCode === 404 ? ' (a renderer older than the CLI?)' : ''}`);
      }
      // Open: the stream may be quiet for a long time.
      req.setTimeout(0);
      isOpen = true;
      resolveOpened({ ok: true });
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i).trim();
          buf = buf.slice(i + 1);
          if (!line) continue;
          try {
            const e = JSON.parse(line);
            if (e && typeof e === 'object' && typeof e.event === 'string') onEvent(e);
          } catch {
            // not an event line
          }
        }
      });
      res.on('error', (err) => finish(closed ? 'closed' : reason(err)));
      res.on('end', () => finish(closed ? 'closed' : 'the renderer closed the stream'));
    },
    (err) => finish(closed ? 'closed' : reason(err)),
    tls,
  );
  return {
    opened,
    ended,
    close() {
      closed = true;
      req.destroy();
      finish('closed');
    },
  };
}
