/**
 * Runs in a webapp container or Swarm task (`node -e`): etcd's JSON gateway, as the registrar reaches it, with
 * what that container has. ATTACK_AS: `registrar` (its certificate, user and password),
 * `cert-only` (its certificate, no login), `nothing` (no client certificate). Commands:
 * `put KEY VALUE [TTL]` (on a new lease kept alive until the process ends when TTL is given),
 * `range KEY`. Prints one JSON line per answer: {status, text} (status 0: no HTTP answer).
 */
export const ATTACKER = `
const https = require('node:https');
const fs = require('node:fs');
const env = process.env;
const as = env.ATTACK_AS || 'registrar';
const [cmd, ...args] = process.argv.slice(1);
const b64 = (s) => Buffer.from(s).toString('base64');
const agent = new https.Agent({ ca: fs.readFileSync(env.ETCD_CA), ...(as !== 'nothing' && { cert: fs.readFileSync(env.ETCD_CERT), key: fs.readFileSync(env.ETCD_KEY) }) });
const call = (path, body, token) => new Promise((resolve) => {
  const req = https.request(new URL(path, env.ETCD_ENDPOINTS.split(',')[0]), { method: 'POST', agent, timeout: 5000, headers: { 'content-type': 'application/json', ...(token && { authorization: token }) } }, (res) => {
    let text = '';
    res.on('data', (d) => (text += d));
    res.on('end', () => resolve({ status: res.statusCode, text: text.trim() }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ status: 0, text: e.message }));
  req.end(JSON.stringify(body));
});
(async () => {
  let token;
  if (as === 'registrar') {
    const a = await call('/v3/auth/authenticate', { name: env.ETCD_USERNAME, password: fs.readFileSync(env.ETCD_PASSWORD_FILE, 'utf8').trim() });
    token = a.status === 200 ? JSON.parse(a.text).token : undefined;
    if (!token) console.log(JSON.stringify({ step: 'authenticate', ...a }));
  }
  if (cmd === 'range') return console.log(JSON.stringify(await call('/v3/kv/range', { key: b64(args[0]) }, token)));
  const [key, value, ttl] = args;
  let lease;
  if (ttl) lease = JSON.parse((await call('/v3/lease/grant', { TTL: Number(ttl) }, token)).text).ID;
  console.log(JSON.stringify({ ...(await call('/v3/kv/put', { key: b64(key), value: b64(value), ...(lease && { lease }) }, token)), lease }));
  if (lease) setInterval(() => void call('/v3/lease/keepalive', { ID: lease }, token), 1000);
})();
`;
