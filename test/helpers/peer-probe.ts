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

// Run with `node -e` inside a container: what a renderer's endpoints give whoever runs it, printed
// as JSON { plain, peer, noCert }. `plain`: GET /status on the loopback-only port 8405 from the
// network. `peer`: n (2,000) pipelined GET /status over TLS to the peer port 8406 with the
// container's certificate (a webapp's registrar.pem, or an LB's peer.pem): the count of answers
// (n requests; past 16 a peer connection is closed, and an RST may drop answers already sent)
// and how it ended. `noCert`: the same without a client certificate.
export const RENDERER_PROBE = (host: string, cert: string, n = 2000) => `
const tls = require('node:tls'), http = require('node:http'), fs = require('node:fs'), d = '/etc/leasehold/pki/';
const plain = () => new Promise((r) => http.get({ host: '${host}', port: 8405, path: '/status', timeout: 3000 }, (res) => { res.resume(); r(String(res.statusCode)); })
  .on('timeout', function () { this.destroy(new Error('timeout')); }).on('error', (e) => r('error ' + (e.code || e.message))));
const peer = (withCert) => new Promise((r) => {
  let text = '', err = '';
  const s = tls.connect({ host: '${host}', port: 8406, ca: fs.readFileSync(d + 'ca.pem'), checkServerIdentity: () => undefined,
    ...(withCert ? { cert: fs.readFileSync(d + '${cert}.pem'), key: fs.readFileSync(d + '${cert}-key.pem') } : {}) },
    () => s.write('GET /status HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n'.repeat(${n})));
  const done = () => { clearTimeout(t); s.destroy(); r({ answers: (text.match(/HTTP\\/1\\.1 200/g) || []).length, error: err }); };
  const t = setTimeout(done, 4000);
  s.setEncoding('utf8'); s.on('data', (c) => (text += c)); s.on('error', (e) => (err = e.code || e.message)); s.on('close', done);
});
(async () => console.log(JSON.stringify({ plain: await plain(), peer: await peer(true), noCert: await peer(false) })))();`;
