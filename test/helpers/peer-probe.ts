// Run with `node -e` inside a webapp container or task, with its registrar's certificate: etcd's
// /version on etcd1's client port (2379) and on its peer port (2380), printed as JSON
// { client, peer }, each "<status> <body>" or "error <code>". The peer port must refuse it.
export const PEER_PROBE = `
const https = require('node:https'), fs = require('node:fs'), d = '/etc/leasehold/pki/';
const get = (port) => new Promise((r) => {
  const req = https.get({ host: 'etcd1', port, path: '/version', ca: fs.readFileSync(d + 'ca.pem'), cert: fs.readFileSync(d + 'registrar.pem'), key: fs.readFileSync(d + 'registrar-key.pem'), timeout: 3000 }, (res) => {
    let t = ''; res.on('data', (c) => (t += c)); res.on('end', () => r(res.statusCode + ' ' + t.slice(0, 80)));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => r('error ' + (e.code || e.message)));
});
(async () => console.log(JSON.stringify({ client: await get(2379), peer: await get(2380) })))();`;
