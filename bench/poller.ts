// One client polling GET / back to back, to see the moment a node starts or stops answering.
// It sends no cookies, so HAProxy balances every request anew (round robin); `keepalive` reuses
// one connection as browsers and SDKs do, `fresh` opens one per request as the old benchmark did.
import { Agent, request } from 'node:http';
import { clock } from './machine.js';
import { sleep } from '../harness/wait.js';

export interface Answer {
  /** Wall-clock ms (see clock()) when the request was sent and when its answer ended. */
  sentAt: number;
  doneAt: number;
  status: number;
  host?: string;
  tag?: string;
  error?: string;
}

export interface PollOptions {
  mode: 'keepalive' | 'fresh';
  /** Pause between an answer and the next request, ms. */
  gapMs: number;
  /** Bounds: the poller stops after this long or this many requests, whatever happens. */
  maxMs: number;
  maxRequests: number;
  /** Stops once this holds (checked after every answer). */
  until?: (answer: Answer, all: Answer[]) => boolean;
  /** A Host header (a routed service) and a path; defaults: the URL's. */
  host?: string;
  path?: string;
}

export interface Poller {
  answers: Answer[];
  /** Resolves once the first answer is in (the connection is open, for `keepalive`). */
  ready: Promise<void>;
  /** Resolves when the poller stopped on its own (`until` or a bound). */
  done: Promise<Answer[]>;
  stop(): Promise<Answer[]>;
}

export function startPoller(url: string, o: PollOptions): Poller {
  const answers: Answer[] = [];
  const agent = o.mode === 'keepalive' ? new Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
  let stopped = false;
  let markReady!: () => void;
  const ready = new Promise<void>((r) => (markReady = r));
  const started = clock();
  const done = (async () => {
    while (!stopped && answers.length < o.maxRequests && clock() - started < o.maxMs) {
      const a = await get(o.path ? new URL(o.path, url).href : url, agent, o.host);
      answers.push(a);
      markReady();
      if (o.until?.(a, answers)) break;
      if (o.gapMs > 0) await sleep(o.gapMs);
    }
    markReady();
    agent?.destroy();
    return answers;
  })();
  return {
    answers,
    ready,
    done,
    async stop() {
      stopped = true;
      return done;
    },
  };
}

function get(url: string, agent: Agent | undefined, host?: string): Promise<Answer> {
  return new Promise((resolve) => {
    const sentAt = clock();
    let settled = false;
    const finish = (a: Omit<Answer, 'sentAt' | 'doneAt'>) => {
      if (settled) return;
      settled = true;
      resolve({ sentAt, doneAt: clock(), ...a });
    };
    const headers: Record<string, string> = agent ? {} : { connection: 'close' };
    if (host) headers.host = host;
    const req = request(url, { agent: agent ?? false, headers, timeout: 5000 }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('error', (e) => finish({ status: 0, error: e.message }));
      res.on('end', () => {
        let body: { host?: string; tag?: string } = {};
        try {
          body = JSON.parse(text);
        } catch {
          // an HAProxy error page, or the static app's `static <hostname>`
          const m = /^static (\S+)/.exec(text);
          if (m) body = { host: m[1] };
        }
        finish({ status: res.statusCode ?? 0, host: body.host, tag: body.tag });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => finish({ status: 0, error: e.message }));
    req.end();
  });
}

/** ms from `t0` to the end of the first answer sent after `t0` that `is` picks. */
export function firstAnswer(answers: Answer[], t0: number, is: (a: Answer) => boolean): number | undefined {
  const a = answers.find((x) => x.sentAt >= t0 && x.status === 200 && is(x));
  return a && a.doneAt - t0;
}

/**
 * ms from `t0` to the moment no request reached the node `is` picks any more: the sending of the
 * first request after the last one that reached it (so the figure's resolution is one request).
 * Undefined when requests still reached it at the end, or none was sent after t0.
 */
export function lastReached(answers: Answer[], t0: number, is: (a: Answer) => boolean): number | undefined {
  const after = answers.filter((x) => x.sentAt >= t0);
  let last = -1;
  for (let i = 0; i < after.length; i++) if (after[i]!.status === 200 && is(after[i]!)) last = i;
  const next = after[last + 1];
  return next && next.sentAt - t0;
}
