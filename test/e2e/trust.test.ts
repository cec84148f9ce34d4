import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import test, { type ExecutionContext } from 'ava';
import { ComposeStack, buildImages, docker } from '../../harness/compose.js';
import { get } from '../../harness/http.js';
import { type LoadResult, startLoad } from '../../harness/load.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { ATTACKER } from '../helpers/attacker.js';

// etcd as a trust boundary, on the compose stack as users run it, as an
// attacker who controls one webapp container would try it: with that container's own
// credentials, without them, and through the load balancer. Every scenario runs under
// keep-alive load and checks that no request failed and that HAProxy serves what it served.
const TTL_S = 5;
const stack = new ComposeStack();

test.before(async () => {
  await buildImages();
  await stack.up({ webapps: 2, env: { LEASE_TTL: String(TTL_S) } });
  await stack.converged(60000);
});
test.after.always(() => stack.down());

type Answer = { status: number; text: string; lease?: string };

/** Runs the attacker in the first webapp container for at most `seconds`; resolves with its answers. */
async function attack(as: 'registrar' | 'cert-only' | 'nothing', args: string[], seconds = 30): Promise<Answer[]> {
  const r = await stack.exec('webapp', ['env', `ATTACK_AS=${as}`, 'timeout', String(seconds), 'node', '-e', ATTACKER, ...args]);
  if (r.code !== 0 && r.code !== 124) throw new Error(`attacker exited ${r.code}: ${r.stderr}`);
  return r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
}

/** Keys under `prefix`, as root in the etcd container. */
async function keys(prefix: string): Promise<string[]> {
  const out = await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'get', '--prefix', prefix, '--keys-only']);
  return out.split('\n').filter(Boolean);
}

/** What HAProxy serves: `slot address status` of every slot in rotation. */
async function live(): Promise<string[]> {
  return (await stack.stats()).filter((r) => r.status !== 'MAINT' && !r.status.startsWith('MAINT')).map((r) => `${r.server} ${r.addr} ${r.status}`).sort();
}

/** Keep-alive GETs holding sticky cookies and keep-alive POSTs, stopped at the latest when the test ends. */
function loads(t: ExecutionContext) {
  const l = {
    'keep-alive GET with cookies': startLoad(stack.url, { rps: 30, clients: 10, cookies: true, maxSeconds: 90 }),
    'keep-alive POST': startLoad(stack.url, { rps: 10, clients: 5, post: true, maxSeconds: 90 }),
  };
  t.teardown(async () => {
    await Promise.all(Object.values(l).map((x) => x.stop()));
  });
  return l;
}

/** Follows the ha container's log lines, until the test ends. */
async function haLines(t: ExecutionContext, keep: (line: string) => boolean): Promise<string[]> {
  const lines: string[] = [];
  t.teardown(await stack.followLogs('ha', (line) => keep(line) && lines.push(line)));
  return lines;
}

async function assertNoFailures(t: ExecutionContext, l: ReturnType<typeof loads>): Promise<void> {
  for (const [name, load] of Object.entries(l)) {
    const r: LoadResult = await load.stop();
    for (const f of r.failed.slice(0, 10)) t.log(`${name}: failed at ${f.at} ms: status ${f.status} ${f.error ?? ''}`);
    t.true(r.samples.length > 0, `${name}: the load ran`);
    t.is(r.failed.length, 0, `${name}: ${r.failed.length} of ${r.samples.length} requests failed`);
    t.log(`${name}: ${r.samples.length} requests, none failed, p50 ${r.p50} ms, p99 ${r.p99} ms`);
  }
}

/** A request to the LB with another Host header: what a client outside can send. */
function throughLb(method: string, path: string, host: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = httpRequest(new URL(path, stack.url), { method, agent: false, timeout: 5000, headers: { host, ...(body && { 'content-type': 'application/json' }) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, text: e.message }));
    req.end(body);
  });
}

async function etcdContainer() {
  const [c] = await stack.containers('etcd');
  return docker.getContainer(c!.Id).inspect();
}

test.serial('etcd: TLS only, client certificates, auth on; one user and role per part; each container holds its own credentials only', async (t) => {
  const info = await etcdContainer();
  const env = new Map((info.Config.Env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  t.is(env.get('ETCD_LISTEN_CLIENT_URLS'), 'https://0.0.0.0:2379');
  t.is(env.get('ETCD_CLIENT_CERT_AUTH'), 'true');
  t.regex(await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'auth', 'status']), /Authentication Status: true/);
  t.deepEqual((await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'user', 'list'])).split('\n').filter(Boolean), ['operator', 'registrar-labelled', 'registrar-static', 'registrar-webapp', 'renderer', 'root']);
  const role = (name: string) => stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'role', 'get', name]);
  t.is(await role('registrar-webapp'), 'Role registrar-webapp\nKV Read:\n\t[/nodes/webapp/, /nodes/webapp0) (prefix /nodes/webapp/)\nKV Write:\n\t[/nodes/webapp/, /nodes/webapp0) (prefix /nodes/webapp/)\n');
  t.is(await role('renderer'), 'Role renderer\nKV Read:\n\t[/leasehold/, /leasehold0) (prefix /leasehold/)\n\t[/nodes/, /nodes0) (prefix /nodes/)\nKV Write:\n');
  // Everything: etcdctl prints the range from key "\0" (a NUL byte), open ended.
  t.regex(await role('operator'), /^Role operator\nKV Read:\n\t\[\0?, <open ended>\n\t\[\/leasehold\/, \/leasehold0\) \(prefix \/leasehold\/\)\nKV Write:\n\t\[\/leasehold\/, \/leasehold0\) \(prefix \/leasehold\/\)\n$/);
  // One volume per consumer: a webapp sees its service's registrar credentials and the CA, nothing else.
  const files = async (service: string) => (await stack.exec(service, ['ls', '/etc/leasehold/pki'])).stdout.split('\n').filter(Boolean);
  t.deepEqual(await files('webapp'), ['ca.pem', 'password', 'registrar-key.pem', 'registrar.pem']);
  t.deepEqual(await files('ha'), ['ca.pem', 'operator-key.pem', 'operator.pem', 'peer-key.pem', 'peer.pem', 'renderer-key.pem', 'renderer.pem', 'stats-password']);
  // The agent: only the services it registers (labelled), none of the webapps'; and no webapp has the Docker socket.
  t.deepEqual((await stack.exec('agent', ['ls', '/etc/leasehold/agent'])).stdout.split('\n').filter(Boolean), ['labelled']);
  t.not((await stack.exec('webapp', ['test', '-e', '/var/run/docker.sock'])).code, 0);
  t.false((await files('etcd')).includes('ca-key.pem'), "the CA's key is in the pki job's volume only");
  // The registrar's certificate has no Common Name: etcd's gateway would refuse it with auth on.
  const reg = await stack.exec('webapp', ['cat', '/etc/leasehold/pki/registrar.pem']);
  const { X509Certificate } = await import('node:crypto');
  const cert = new X509Certificate(reg.stdout);
  t.notRegex(cert.subject, /CN=/);
  t.regex(cert.subject, /OU=registrar-webapp/);
});

test.serial("HAProxy's stats page and /metrics: a webapp on the network gets 401; the operator's published port with the password, 200", async (t) => {
  const probe = `const http = require('node:http'); const get = (p) => new Promise((r) => http.get({ host: 'ha', port: 1936, path: p, timeout: 3000 }, (res) => { res.resume(); r(res.statusCode); }).on('error', (e) => r(e.code)));
(async () => console.log(JSON.stringify([await get('/;csv'), await get('/metrics'), await get('/')])))();`;
  const fromWebapp = JSON.parse((await stack.exec('webapp', ['node', '-e', probe])).stdout);
  t.deepEqual(fromWebapp, [401, 401, 401], 'no node address, state or session count for a webapp');
  const csv = await get(`${stack.statsUrl}/;csv`);
  t.is(csv.status, 200);
  t.regex(csv.text, /^# pxname,svname,/);
  t.is((await get(`${stack.statsUrl}/metrics`)).status, 200, 'Prometheus with the password');
  t.is((await get(`http://127.0.0.1:${stack.statsPort}/;csv`)).status, 401, 'without it, not even from the host');
});

test.serial('from the host: etcd has no published port; reached through the bridge without a client certificate, it answers nothing', async (t) => {
  const info = await etcdContainer();
  t.deepEqual(info.HostConfig.PortBindings ?? {}, {}, 'no port binding');
  t.falsy(info.NetworkSettings.Ports?.['2379/tcp'], 'nothing published for 2379');
  const ip = Object.values(info.NetworkSettings.Networks ?? {})[0]!.IPAddress;
  const r = await new Promise<{ status: number; error?: string }>((resolve) => {
    const req = httpsRequest(`https://${ip}:2379/v3/kv/range`, { method: 'POST', agent: false, rejectUnauthorized: false, timeout: 5000 }, (res) => resolve({ status: res.statusCode ?? 0 }));
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ status: 0, error: e.message }));
    req.end('{"key":"Lw==","range_end":"AA=="}');
  });
  t.is(r.status, 0, `no HTTP answer without a client certificate (${r.error})`);
  t.log(`https://${ip}:2379 without a client certificate: ${r.error}`);
  const plain = await new Promise<string>((resolve) => {
    const req = httpRequest(`http://${ip}:2379/v3/kv/range`, { method: 'POST', agent: false, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve(e.message));
    req.end('{"key":"Lw=="}');
  });
  t.notRegex(plain, /cluster_id|"kvs"/, `plain HTTP: ${plain.slice(0, 200)}`);
});

test.serial("inside a webapp: its registrar's credentials write its own service only; no certificate or no login writes nothing; traffic and the live config unaffected", async (t) => {
  const before = await live();
  const l = loads(t);
  await sleep(1000);

  const [other] = await attack('registrar', ['put', '/nodes/other/x', '{}']);
  t.is(other!.status, 403, other!.text);
  t.regex(other!.text, /permission denied/);
  const [drain] = await attack('registrar', ['put', '/leasehold/drain/webapp/x', '{}']);
  t.regex(drain!.text, /permission denied/, 'nor an operator key');
  const [read] = await attack('registrar', ['range', '/nodes/other/']);
  t.regex(read!.text, /permission denied/, "nor read another service's records");

  const [noCert] = await attack('nothing', ['put', '/nodes/webapp/x', '{}']);
  t.is(noCert!.status, 0, 'no HTTP answer at all');
  t.regex(noCert!.text, /certificate required/);
  const [noLogin] = await attack('cert-only', ['put', '/nodes/webapp/x', '{}']);
  t.true(noLogin!.status >= 400, noLogin!.text);
  t.regex(noLogin!.text, /permission denied|user name is empty/);

  t.deepEqual(await keys('/nodes/other/'), []);
  t.deepEqual(await keys('/leasehold/'), []);
  t.false((await keys('/nodes/webapp/')).includes('/nodes/webapp/x'));
  await sleep(1000);
  t.deepEqual(await live(), before, 'HAProxy serves what it served');
  await assertNoFailures(t, l);
});

test.serial("the `Host: etcd` attack: a record at etcd's address and port, on a lease, with the registrar's credentials, is refused by admission; the LB answers no etcd data", async (t) => {
  const before = await live();
  const ids = await stack.converged(30000);
  const info = await etcdContainer();
  const etcdIp = Object.values(info.NetworkSettings.Networks ?? {})[0]!.IPAddress;
  const rejected = await haLines(t, (line) => line.includes('"event":"rejected"') && line.includes('/nodes/webapp/etcd'));
  const l = loads(t);
  await sleep(1000);

  const record = JSON.stringify({ id: 'etcd', service: 'webapp', address: etcdIp, port: 2379, tag: 'etcd', weight: 100, state: 'up', registeredAt: new Date().toISOString() });
  // Kept alive for as long as the attacker runs (until `timeout` ends it).
  const attacker = attack('registrar', ['put', '/nodes/webapp/etcd', record, '10'], 12);
  t.teardown(() => attacker);
  const stored = await waitFor(async () => {
    const out = await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'get', '/nodes/webapp/etcd', '-w', 'json']);
    const lease = /"lease":(\d+)/.exec(out)?.[1];
    return lease && lease !== '0' ? lease : undefined;
  }, 'the record stored in etcd on a lease', 15000, 100);
  t.log(`etcd holds /nodes/webapp/etcd -> ${etcdIp}:2379 on lease ${BigInt(stored).toString(16)}`);
  await waitFor(() => rejected.length > 0, 'the renderer to refuse it', 10000, 50);
  t.regex(rejected[0]!, /address is etcd's/);

  for (const [method, path, body] of [
    ['POST', '/v3/kv/range', '{"key":"Lw==","range_end":"AA=="}'],
    ['POST', '/v3/kv/put', '{"key":"L25vZGVzL290aGVyL3g=","value":"eA=="}'],
    ['GET', '/health', undefined],
    ['GET', '/version', undefined],
  ] as const) {
    for (const host of ['etcd', 'ETCD', `${etcdIp}:2379`]) {
      const r = await throughLb(method, path, host, body);
      t.notRegex(r.text, /cluster_id|etcdserver|etcdcluster|"health"/, `${method} ${path} Host: ${host} -> ${r.status} ${r.text.slice(0, 200)}`);
    }
  }
  t.false((await stack.stats()).some((r) => r.addr === `${etcdIp}:2379`), "no slot points at etcd");
  t.deepEqual(await live(), before, 'HAProxy serves what it served');
  t.deepEqual(await keys('/nodes/other/'), [], 'nothing written through the LB');
  await assertNoFailures(t, l);
  await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'lease', 'revoke', BigInt(stored).toString(16)]);
  await attacker;
  t.deepEqual(await stack.converged(30000), ids);
});

test.serial("the renderer's etcd user only reads; the CLI in the ha image is the operator", async (t) => {
  const [id] = await stack.webappIds();
  const asRenderer = await stack.exec('ha', ['env', '-u', 'LEASEHOLD_ETCD_CERT', '-u', 'LEASEHOLD_ETCD_KEY', 'leasehold', 'drain', `webapp/${id}`]);
  t.is(asRenderer.code, 4, asRenderer.stderr);
  t.regex(asRenderer.stderr, /no permission/);
  const status = await stack.exec('ha', ['env', '-u', 'LEASEHOLD_ETCD_CERT', '-u', 'LEASEHOLD_ETCD_KEY', 'leasehold', 'status', '--json']);
  t.is(status.code, 0, 'but it reads');
  const asOperator = await stack.exec('ha', ['leasehold', 'weight', `webapp/${id}`, '100']);
  t.is(asOperator.code, 0, asOperator.stderr);
  const ops = await stack.exec('ha', ['leasehold', 'weight', `webapp/${id}`, '--reset']);
  t.is(ops.code, 0, ops.stderr);
  // The operator is not root: with its certificate, a record cannot be written.
  const notRoot = await stack.exec('etcd', ['sh', '-c', 'ETCDCTL_CERT=/etc/leasehold/pki/operator.pem ETCDCTL_KEY=/etc/leasehold/pki/operator-key.pem etcdctl put /nodes/webapp/x y']);
  t.not(notRoot.code, 0);
  t.regex(notRoot.stderr, /permission denied/);
});

test.serial('the pki job is idempotent: run again, it issues nothing and every credential stays', async (t) => {
  const sums = async () => (await stack.exec('ha', ['sh', '-c', 'sha256sum /etc/leasehold/pki/*'])).stdout;
  const before = await sums();
  const out = await stack.compose(['run', '--rm', '--no-deps', 'pki']);
  t.regex(out, /pki: ready: ca, etcd, ha, registrar-webapp/);
  t.notRegex(out, /issued|made/);
  t.is(await sums(), before);
});

test.serial('etcd restarted on an empty data dir (its volume removed) under keep-alive load: users and roles come back, registrars re-register, no request fails', async (t) => {
  const ids = await stack.converged(30000);
  const before = await live();
  const store = await haLines(t, (line) => line.includes('"event":"store"'));
  const l = loads(t);
  await sleep(2000);
  const wiped = Date.now();
  await stack.compose(['rm', '--stop', '--force', 'etcd']);
  await docker.getVolume(`${stack.project}_etcd-data`).remove();
  await stack.compose(['up', '-d', '--no-build', '--no-deps', 'etcd']);
  const back = await waitFor(async () => {
    const recs = (await stack.etcdRecords().catch(() => [])).map((r) => r.id).sort();
    return recs.join() === ids.join() ? Date.now() : undefined;
  }, 'every registrar back in the emptied etcd', 30000, 100);
  t.log(`every registrar back ${back - wiped} ms after etcd's container and volume were removed`);
  t.regex(await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'auth', 'status']), /Authentication Status: true/, 'auth on again');
  t.deepEqual((await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'user', 'list'])).split('\n').filter(Boolean), ['operator', 'registrar-labelled', 'registrar-static', 'registrar-webapp', 'renderer', 'root']);
  t.deepEqual(await stack.converged(30000), ids);
  await sleep(2000);
  for (const line of store) t.log(`renderer: ${JSON.parse(line.slice(line.indexOf('{'))).msg}`);
  t.deepEqual(await live(), before, 'the same nodes in the same slots');
  await assertNoFailures(t, l);
  // And the operator still writes, the attacker still cannot.
  t.is((await stack.exec('ha', ['leasehold', 'drain', `webapp/${ids[0]}`])).code, 0);
  t.is((await stack.exec('ha', ['leasehold', 'undrain', `webapp/${ids[0]}`])).code, 0);
  const [other] = await attack('registrar', ['put', '/nodes/other/x', '{}']);
  t.regex(other!.text, /permission denied/);
});
