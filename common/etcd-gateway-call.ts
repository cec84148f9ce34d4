// What one call to etcd's JSON gateway (`/v3/...`, served by etcd 3.4 and 3.5 on its client
// port) looks like on the wire, and what its answer means. Pure: no sockets here.
import { EtcdRefusedError, EtcdUnavailableError } from './errors.js';

/** One gateway call: a POST of a JSON body to a path. */
export interface GatewayCall {
  path: string;
  body: Record<string, unknown>;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/**
 * The calls the registrar makes. Keys and values travel base64-encoded; lease ids and TTLs as
 * decimal strings or numbers (the gateway accepts both for 64-bit integers, and answers strings).
 */
export const gatewayCalls = {
  grant: (ttlSeconds: number): GatewayCall => ({ path: '/v3/lease/grant', body: { TTL: ttlSeconds } }),
  put: (key: string, value: string, leaseId: string): GatewayCall => ({ path: '/v3/kv/put', body: { key: b64(key), value: b64(value), lease: leaseId } }),
  keepAlive: (leaseId: string): GatewayCall => ({ path: '/v3/lease/keepalive', body: { ID: leaseId } }),
  range: (key: string): GatewayCall => ({ path: '/v3/kv/range', body: { key: b64(key) } }),
  revoke: (leaseId: string): GatewayCall => ({ path: '/v3/lease/revoke', body: { ID: leaseId } }),
  authenticate: (name: string, password: string): GatewayCall => ({ path: '/v3/auth/authenticate', body: { name, password } }),
};

/** The URL and headers of `call` on `endpoint`, with etcd's auth token when there is one. */
export function gatewayRequest(endpoint: string, call: GatewayCall, token?: string): { url: URL; headers: Record<string, string>; payload: string } {
  const url = new URL(endpoint);
  // A path in the endpoint (a reverse proxy's prefix) is kept: /v3/... is appended to it.
  url.pathname = url.pathname.replace(/\/+$/, '') + call.path;
  const payload = JSON.stringify(call.body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(payload)),
  };
  // etcd reads the token from the `authorization` metadata, without a scheme.
  if (token) headers.authorization = token;
  return { url, headers, payload };
}

/** gRPC codes that mean "not now": another endpoint or a later try may work. */
const TRANSIENT = new Set([1 /* canceled */, 2 /* unknown */, 4 /* deadline exceeded */, 8 /* resource exhausted */, 10 /* aborted */, 13 /* internal */, 14 /* unavailable */]);

/** gRPC code 16: the auth token is missing, invalid or expired. */
export const UNAUTHENTICATED = 16;
/** gRPC code 5: for lease calls, the lease does not exist. */
export const NOT_FOUND = 5;
/**
 * gRPC code 7. A put on a lease is refused so when the user may not write the key, or any key
 * already on the lease; a revoke, when it may not write every key on the lease.
 */
export const PERMISSION_DENIED = 7;

/**
 * The JSON of an answer, or the typed error it stands for. The gateway reports errors either
 * with a non-2xx status and `{"error","message","code"}`, or (streamed calls such as keepalive)
 * with 200 and `{"error":{"grpc_code","http_code","message"}}`.
 * @throws EtcdUnavailableError (retryable) or EtcdRefusedError.
 */
export function gatewayAnswer(endpoint: string, path: string, status: number, text: string): Record<string, any> {
  let json: any;
  try {
    // A streamed answer is one JSON object per line; each call here sends one request, so one line.
    json = JSON.parse(text.split('\n', 1)[0]!);
  } catch {
    json = undefined;
  }
  const streamedError = json && typeof json.error === 'object' && json.error !== null ? json.error : undefined;
  if (status >= 200 && status < 300 && json && typeof json === 'object' && !streamedError) return json;
  const code: number | undefined = streamedError?.grpc_code ?? (typeof json?.code === 'number' ? json.code : undefined);
  const message: string = streamedError?.message ?? json?.message ?? json?.error ?? (text.slice(0, 200) || `HTTP ${status}`);
  const what = `etcd ${endpoint}${path}: ${message}`;
  if (code !== undefined ? TRANSIENT.has(code) : status >= 500 || status === 429 || (status >= 200 && status < 300)) {
    throw new EtcdUnavailableError(what, endpoint);
  }
  throw new EtcdRefusedError(what, streamedError?.http_code ?? status, code);
}
