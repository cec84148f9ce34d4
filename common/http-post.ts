// One HTTP(S) POST with a connect timeout and an overall deadline, over node:http/node:https
// with keep-alive agents. node:https (and with it tls and crypto) is loaded only when asked for.
import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';

/** PEM material for TLS, already read from its files. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export interface PostOptions {
  /** Connect timeout, ms. */
  dialTimeoutMs: number;
  /** Deadline of the whole exchange, ms. */
  callTimeoutMs: number;
  signal?: AbortSignal;
}

export interface PostReply {
  status: number;
  text: string;
}

/**
 * Sends one POST; rejects on any transport failure (refused, reset, timeout, TLS) or abort.
 * `close` releases kept-alive connections.
 */
export type Post = ((url: URL, headers: Record<string, string>, payload: string, o: PostOptions) => Promise<PostReply>) & { close?: () => void };

/** Answers larger than this are cut off: the registrar's calls answer a few hundred bytes. */
const MAX_ANSWER = 1 << 20;

/**
 * A POST function for http: URLs, and for https: URLs when `https` is true (node:https is
 * imported then, with `tls` as the agent's CA and client certificate).
 */
export async function createPost(o: { https: boolean; tls?: TlsMaterial }): Promise<Post> {
  // Calls are sequential: one kept-alive connection per endpoint saves a handshake per call.
  const agents: Record<string, Agent> = { 'http:': new Agent({ keepAlive: true, maxSockets: 2 }) };
  let httpsRequest: typeof request | undefined;
  if (o.https) {
    const https = await import('node:https');
    agents['https:'] = new https.Agent({ keepAlive: true, maxSockets: 2, ...o.tls });
    httpsRequest = https.request as unknown as typeof request;
  }
  const post: Post = (url, headers, payload, po) => {
    const send = url.protocol === 'https:' ? httpsRequest : request;
    const agent = agents[url.protocol];
    if (!send || !agent) return Promise.reject(new Error(`${url.protocol} endpoints are not enabled`));
    const attempt = (retryOnStale: boolean): Promise<PostReply> =>
      once(send, agent, url, headers, payload, po).catch((err: Error & { code?: string; reusedSocket?: boolean }) => {
        // A kept-alive connection the server closed meanwhile (etcd restarted): try a fresh one.
        if (retryOnStale && err.reusedSocket && err.code === 'ECONNRESET' && !po.signal?.aborted) return attempt(false);
        throw err;
      });
    return attempt(true);
  };
  post.close = () => Object.values(agents).forEach((a) => a.destroy());
  return post;
}

function once(send: typeof request, agent: Agent, url: URL, headers: Record<string, string>, payload: string, o: PostOptions): Promise<PostReply> {
  return new Promise((resolve, reject) => {
    let req: ClientRequest;
    const fail = (err: Error & { reusedSocket?: boolean }) => {
      clearTimeout(deadline);
      clearTimeout(dial);
      err.reusedSocket = req.reusedSocket;
      reject(err);
    };
    const deadline = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${o.callTimeoutMs} ms`), { code: 'ETIMEDOUT' })), o.callTimeoutMs);
    let dial: NodeJS.Timeout | undefined;
    req = send(url, { method: 'POST', headers, agent, signal: o.signal }, (res: IncomingMessage) => {
      clearTimeout(dial);
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
        if (text.length > MAX_ANSWER) req.destroy(new Error(`answer over ${MAX_ANSWER} bytes`));
      });
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(deadline);
        resolve({ status: res.statusCode ?? 0, text });
      });
    });
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      dial = setTimeout(() => req.destroy(Object.assign(new Error(`no connection within ${o.dialTimeoutMs} ms`), { code: 'ETIMEDOUT' })), o.dialTimeoutMs);
      socket.once('connect', () => clearTimeout(dial));
    });
    req.on('error', fail);
    req.end(payload);
  });
}
