// The registrar's etcd client: what it sends (paths, bodies, headers), how it reads answers
// into typed errors, endpoint failover and auth, over a fake POST. The real thing is exercised
// against etcd in test/integration/registrar.test.ts.
import { createServer as createHttpServer } from 'node:http';
import { type AddressInfo, type Socket, createServer as createTcpServer } from 'node:net';
import test from 'ava';
import { EtcdRefusedError, EtcdUnavailableError, LeaseNotFoundError, OptionError } from '../../common/errors.js';
import { gatewayAnswer, gatewayCalls, gatewayRequest } from '../../common/etcd-gateway-call.js';
import { EtcdGateway } from '../../common/etcd-gateway.js';
import { loadTls } from '../../common/tls-files.js';
import { type EtcdOptions, etcdOptionsFromEnv } from '../../common/etcd-options.js';
import { type Post, type PostReply, createPost } from '../../common/http-post.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

test('the five calls and authenticate: paths and JSON bodies as etcd 3.4/3.5 gateways expect', (t) => {
  t.deepEqual(gatewayCalls.grant(5), { path: '/v3/lease/grant', body: { TTL: 5 } });
  t.deepEqual(gatewayCalls.put('/nodes/webapp/a', '{"id":"a"}', '7587'), { path: '/v3/kv/put', body: { key: b64('/nodes/webapp/a'), value: b64('{"id":"a"}'), lease: '7587' } });
  t.deepEqual(gatewayCalls.keepAlive('7587'), { path: '/v3/lease/keepalive', body: { ID: '7587' } });
  t.deepEqual(gatewayCalls.range('/nodes/webapp/a'), { path: '/v3/kv/range', body: { key: b64('/nodes/webapp/a') } });
  t.deepEqual(gatewayCalls.revoke('7587'), { path: '/v3/lease/revoke', body: { ID: '7587' } });
  t.deepEqual(gatewayCalls.authenticate('registrar-webapp', 'pw'), { path: '/v3/auth/authenticate', body: { name: 'registrar-webapp', password: 'pw' } });
  // Non-ASCII survives: base64 of the UTF-8 bytes.
  t.is(gatewayCalls.put('/k', 'é', '1').body.value, 'w6k=');
});

test('a request: URL under the endpoint (a proxy path prefix kept), JSON headers, the token only when there is one', (t) => {
  const r = gatewayRequest('https://etcd:2379', gatewayCalls.grant(5));
  t.is(r.url.href, 'https://etcd:2379/v3/lease/grant');
  t.is(r.payload, '{"TTL":5}');
  t.deepEqual(r.headers, { 'content-type': 'application/json', 'content-length': '9' });
  t.is(gatewayRequest('http://10.0.0.1:2379/etcd/', gatewayCalls.grant(5)).url.href, 'http://10.0.0.1:2379/etcd/v3/lease/grant');
  t.is(gatewayRequest('http://[fd00::1]:2379', gatewayCalls.grant(5)).url.href, 'http://[fd00::1]:2379/v3/lease/grant');
  t.is(gatewayRequest('http://etcd:2379', gatewayCalls.grant(5), 'tok.42').headers.authorization, 'tok.42');
  t.is(gatewayRequest('http://etcd:2379', gatewayCalls.put('/k', 'v', '1')).headers['content-length'], String(Buffer.byteLength(gatewayRequest('http://etcd:2379', gatewayCalls.put('/k', 'v', '1')).payload)));
});

test('answers: 2xx JSON is the result; etcd errors become typed, retryable or not', (t) => {
  const E = 'http://e:2379';
  t.deepEqual(gatewayAnswer(E, '/v3/lease/grant', 200, '{"ID":"1","TTL":"5"}'), { ID: '1', TTL: '5' });
  // keepalive streams one JSON object per line
  t.deepEqual(gatewayAnswer(E, '/v3/lease/keepalive', 200, '{"result":{"ID":"1","TTL":"5"}}\n'), { result: { ID: '1', TTL: '5' } });
  const unavailable = (status: number, text: string) => t.throws(() => gatewayAnswer(E, '/p', status, text), { instanceOf: EtcdUnavailableError });
  const refused = (status: number, text: string) => t.throws(() => gatewayAnswer(E, '/p', status, text), { instanceOf: EtcdRefusedError }) as EtcdRefusedError;
  t.true(unavailable(503, '{"error":"etcdserver: leader changed","code":14}')!.retryable);
  unavailable(504, '{"error":"etcdserver: request timed out","code":4}');
  unavailable(502, '<html>bad gateway</html>');
  unavailable(200, 'not json');
  unavailable(200, '{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}}');
  const denied = refused(403, '{"error":"etcdserver: permission denied","message":"etcdserver: permission denied","code":7}');
  t.like(denied, { httpStatus: 403, grpcCode: 7, retryable: false });
  t.regex(denied.message, /permission denied/);
  t.like(refused(404, '{"error":"etcdserver: requested lease not found","code":5}'), { grpcCode: 5 });
  t.like(refused(401, '{"error":"etcdserver: invalid auth token","code":16}'), { grpcCode: 16 });
  t.like(refused(200, '{"error":{"grpc_code":16,"http_code":401,"message":"etcdserver: invalid auth token"}}'), { grpcCode: 16, httpStatus: 401 });
  refused(400, '{"error":"etcdserver: authentication failed, invalid user ID or password","code":3}');
});

/** A fake POST: answers from a function of (endpoint, path, body, headers), records every request. */
function fakePost(answer: (endpoint: string, path: string, body: any, headers: Record<string, string>) => PostReply | Error) {
  const sent: { endpoint: string; path: string; body: any; headers: Record<string, string> }[] = [];
  const post: Post = async (url, headers, payload) => {
    const endpoint = `${url.protocol}//${url.host}`;
    const req = { endpoint, path: url.pathname, body: JSON.parse(payload), headers };
    sent.push(req);
    const a = answer(req.endpoint, req.path, req.body, headers);
    if (a instanceof Error) throw a;
    return a;
  };
  return { post, sent };
}

const ok = (body: unknown): PostReply => ({ status: 200, text: JSON.stringify(body) });
const options = (env: Record<string, string> = {}): EtcdOptions => etcdOptionsFromEnv({ ETCD_ENDPOINTS: 'http://a:2379,http://b:2379,http://c:2379', ...env });
const refusedConnection = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

test('calls decode what etcd stores: ids, base64 values, lease of a key, TTL left', async (t) => {
  const { post } = fakePost((_e, path) => {
    if (path === '/v3/lease/grant') return ok({ header: {}, ID: '694d8', TTL: '5' });
    if (path === '/v3/kv/range') return ok({ header: {}, kvs: [{ key: b64('/k'), value: b64('{"id":"é"}'), lease: '694d8' }], count: '1' });
    if (path === '/v3/lease/keepalive') return ok({ result: { ID: '694d8', TTL: '4' } });
    return ok({ header: {} });
  });
  const g = new EtcdGateway(options(), post);
  t.is(await g.grant(5), '694d8');
  t.deepEqual(await g.get('/k'), { value: '{"id":"é"}', leaseId: '694d8' });
  t.is(await g.keepAlive('694d8'), 4);
  await g.put('/k', 'v', '694d8');
  await g.revoke('694d8');
});

test('a missing key is undefined; a key without a lease has lease "0"', async (t) => {
  let kvs: unknown[] | undefined;
  const { post } = fakePost(() => ok(kvs ? { header: {}, kvs } : { header: {} }));
  const g = new EtcdGateway(options(), post);
  t.is(await g.get('/k'), undefined);
  kvs = [{ key: b64('/k'), value: b64('v') }];
  t.deepEqual(await g.get('/k'), { value: 'v', leaseId: '0' });
});

test('a lease that is gone: put and keepalive throw LeaseNotFoundError; revoke counts it as revoked', async (t) => {
  const { post } = fakePost((_e, path) =>
    path === '/v3/lease/keepalive' ? ok({ result: { ID: '9' } }) : { status: 404, text: '{"error":"etcdserver: requested lease not found","code":5}' },
  );
  const g = new EtcdGateway(options(), post);
  const put = await t.throwsAsync(g.put('/k', 'v', '9'), { instanceOf: LeaseNotFoundError });
  t.is(put!.leaseId, '9');
  t.true(put!.retryable);
  // The gateway leaves TTL out of a keepalive answer for a lease that no longer exists.
  await t.throwsAsync(g.keepAlive('9'), { instanceOf: LeaseNotFoundError });
  await t.notThrowsAsync(g.revoke('9'));
});

test('failover: an unreachable endpoint sends the call to the next, and later calls start from the one that answered', async (t) => {
  const down = new Set(['http://a:2379']);
  const { post, sent } = fakePost((e) => (down.has(e) ? refusedConnection() : ok({ header: {}, ID: '1', TTL: '5' })));
  const g = new EtcdGateway(options(), post);
  t.is(await g.grant(5), '1');
  t.deepEqual(sent.map((s) => s.endpoint), ['http://a:2379', 'http://b:2379']);
  t.is(g.endpoint, 'http://b:2379');
  await g.grant(5);
  t.is(sent.at(-1)!.endpoint, 'http://b:2379', 'b again, not a first');
  down.add('http://b:2379');
  down.add('http://c:2379');
  down.delete('http://a:2379');
  sent.length = 0;
  await g.grant(5);
  t.deepEqual(sent.map((s) => s.endpoint), ['http://b:2379', 'http://c:2379', 'http://a:2379'], 'wraps around');
});

test('failover also on 5xx and gRPC Unavailable; all endpoints down: one EtcdUnavailableError naming the last', async (t) => {
  const { post, sent } = fakePost((e) =>
    e === 'http://a:2379' ? { status: 503, text: '{"error":"etcdserver: no leader","code":14}' } : e === 'http://b:2379' ? new Error('socket hang up') : refusedConnection(),
  );
  const g = new EtcdGateway(options(), post);
  const err = await t.throwsAsync(g.grant(5), { instanceOf: EtcdUnavailableError });
  t.is(sent.length, 3);
  t.regex(err!.message, /no etcd endpoint answered.*c:2379.*ECONNREFUSED/);
  t.true(err!.retryable);
});

test('failover on silence: a member that takes the connection but never answers (cut off from the cluster) costs one call deadline, then the next answers', async (t) => {
  const held: Socket[] = [];
  const silent = createTcpServer((s) => held.push(s)).listen(0, '127.0.0.1');
  const alive = createHttpServer((_req, res) => res.end('{"header":{},"ID":"7","TTL":"5"}')).listen(0, '127.0.0.1');
  await Promise.all([silent, alive].map((s) => new Promise((r) => s.once('listening', r))));
  const port = (s: { address(): unknown }) => (s.address() as AddressInfo).port;
  // The deadline holds for the member that answers too, and it answers on this process's event loop: 1.5 s, not 0.3, so a loaded machine's stall does not time it out as well.
  const o = etcdOptionsFromEnv({ ETCD_ENDPOINTS: `http://127.0.0.1:${port(silent)},http://127.0.0.1:${port(alive)}`, ETCD_TIMEOUT_MS: '1500' });
  const g = new EtcdGateway(o, await createPost({ https: false }));
  try {
    const t0 = Date.now();
    t.is(await g.grant(5), '7');
    const ms = Date.now() - t0;
    t.true(ms >= 1450 && ms < 3000, `answered after ${ms} ms: one deadline of 1.5 s (not two), then the next member`);
    t.is(g.endpoint, o.endpoints[1]!, 'later calls start from the member that answered');
  } finally {
    g.close();
    held.forEach((s) => s.destroy());
    await Promise.all([silent, alive].map((s) => new Promise((r) => s.close(r))));
  }
});

test('no failover on a refusal: another endpoint of the same cluster would refuse too', async (t) => {
  const { post, sent } = fakePost(() => ({ status: 403, text: '{"error":"etcdserver: permission denied","code":7}' }));
  const g = new EtcdGateway(options(), post);
  await t.throwsAsync(g.put('/nodes/api/x', 'v', '1'), { instanceOf: EtcdRefusedError });
  t.is(sent.length, 1);
});

test('an aborted call (stop) is not failed over', async (t) => {
  const ac = new AbortController();
  const { post, sent } = fakePost(() => {
    ac.abort();
    return Object.assign(new Error('The operation was aborted'), { name: 'AbortError' });
  });
  const g = new EtcdGateway(options(), post);
  await t.throwsAsync(g.grant(5, ac.signal), { name: 'AbortError' });
  t.is(sent.length, 1);
});

test('auth: authenticates once, sends the token on every call, re-authenticates once when etcd says it expired', async (t) => {
  let valid = 'tok.1';
  let issued = 0;
  const { post, sent } = fakePost((_e, path, body, headers) => {
    if (path === '/v3/auth/authenticate') {
      if (body.name !== 'registrar-webapp' || body.password !== 's3cret') return { status: 400, text: '{"error":"etcdserver: authentication failed, invalid user ID or password","code":3}' };
      valid = `tok.${++issued}`;
      return ok({ header: {}, token: valid });
    }
    if (headers.authorization !== valid) return { status: 401, text: '{"error":"etcdserver: invalid auth token","code":16}' };
    return ok({ header: {}, ID: '1', TTL: '5' });
  });
  const g = new EtcdGateway(options({ ETCD_USERNAME: 'registrar-webapp', ETCD_PASSWORD: 's3cret' }), post);
  await g.grant(5);
  await g.grant(5);
  t.deepEqual(sent.map((s) => s.path), ['/v3/auth/authenticate', '/v3/lease/grant', '/v3/lease/grant']);
  t.false('authorization' in sent[0]!.headers, 'authenticate carries no token');
  t.is(sent[2]!.headers.authorization, 'tok.1');
  valid = 'expired';
  sent.length = 0;
  await g.grant(5);
  t.deepEqual(sent.map((s) => s.path), ['/v3/lease/grant', '/v3/auth/authenticate', '/v3/lease/grant']);
  t.is(sent[2]!.headers.authorization, 'tok.2');
});

test('auth: a call that gets no answer drops the token, so the next logs in again (an emptied etcd never answers a stale one)', async (t) => {
  let issued = 0;
  let hang = false;
  const { post, sent } = fakePost((e, path, _body, headers) => {
    if (path === '/v3/auth/authenticate') return ok({ header: {}, token: `tok.${++issued}` });
    // etcd 3.5 with its data emptied waits for the raft index a simple token names: no answer.
    if (hang && headers.authorization === 'tok.1') return Object.assign(new Error('no answer within 2000 ms'), { code: 'ETIMEDOUT' });
    return e === 'http://a:2379' ? ok({ header: {}, ID: '1', TTL: '5' }) : refusedConnection();
  });
  const g = new EtcdGateway(options({ ETCD_ENDPOINTS: 'http://a:2379', ETCD_USERNAME: 'registrar-webapp', ETCD_PASSWORD: 's3cret' }), post);
  await g.grant(5);
  hang = true;
  await t.throwsAsync(g.grant(5), { instanceOf: EtcdUnavailableError });
  sent.length = 0;
  t.is(await g.grant(5), '1');
  t.deepEqual(sent.map((s) => s.path), ['/v3/auth/authenticate', '/v3/lease/grant']);
  t.is(sent[1]!.headers.authorization, 'tok.2');
});

test('auth: a wrong password is a refusal, not retried elsewhere', async (t) => {
  const { post, sent } = fakePost(() => ({ status: 400, text: '{"error":"etcdserver: authentication failed, invalid user ID or password","code":3}' }));
  const g = new EtcdGateway(options({ ETCD_USERNAME: 'registrar-webapp', ETCD_PASSWORD: 'wrong' }), post);
  const err = await t.throwsAsync(g.grant(5), { instanceOf: EtcdRefusedError });
  t.regex(err!.message, /authentication failed/);
  t.false(err!.retryable);
  t.is(sent.length, 1);
});

test('without auth no token is asked for, and a 401 is a plain refusal', async (t) => {
  const { post, sent } = fakePost(() => ({ status: 401, text: '{"error":"etcdserver: user name is empty","code":16}' }));
  await t.throwsAsync(new EtcdGateway(options(), post).grant(5), { instanceOf: EtcdRefusedError });
  t.deepEqual(sent.map((s) => s.path), ['/v3/lease/grant']);
});

test('TLS files are read once; one that cannot be read names its variable', (t) => {
  const files: Record<string, string> = { '/tls/ca.pem': 'CA', '/tls/client.pem': 'CERT', '/tls/client-key.pem': 'KEY' };
  const read = (p: string) => {
    if (!(p in files)) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${p}'`), { code: 'ENOENT' });
    return Buffer.from(files[p]!);
  };
  t.is(loadTls(undefined, read), undefined);
  const tls = loadTls({ caFile: '/tls/ca.pem', certFile: '/tls/client.pem', keyFile: '/tls/client-key.pem' }, read)!;
  t.deepEqual([tls.ca?.toString(), tls.cert?.toString(), tls.key?.toString()], ['CA', 'CERT', 'KEY']);
  t.deepEqual(Object.keys(loadTls({ caFile: '/tls/ca.pem' }, read)!), ['ca']);
  t.throws(() => loadTls({ caFile: '/tls/missing.pem' }, read), { instanceOf: OptionError, message: /ETCD_CA=\/tls\/missing.pem: ENOENT/ });
});
