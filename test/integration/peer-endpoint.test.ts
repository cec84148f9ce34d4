import test from 'ava';
import { type AddressInfo, type Socket, connect as netConnect } from 'node:net';
import { connect, type ConnectionOptions } from 'node:tls';
import { startPeerServer } from '../../common/health-server.js';
import { fetchStatus } from '../../cli/renderers.js';
import { Snapshot } from '../../renderer/status-snapshot.js';
import { TestCa } from '../helpers/peer-certs.js';
import { sleep, waitFor } from '../../harness/wait.js';

// The renderers' peer endpoint (/status, /events between LBs) decides by certificate, in the TLS
// handshake and right after it, before a byte of a request is parsed: a webapp on the same network
// (its registrar has a certificate of the same CA, without the peer's name) gets no answer at all.
const PEER = 'leasehold-renderer-peer';
const ca = new TestCa();
const peer = ca.issue('peer', `/O=leasehold/CN=${PEER}`);
const webapp = ca.issue('registrar', '/O=leasehold/OU=registrar-webapp', 'clientAuth');
const other = new TestCa('another-ca').issue('peer', `/O=leasehold/CN=${PEER}`);

/** A peer server whose /status counts its callers and takes HAProxy's side through a 1 s snapshot. */
async function server() {
  const counts = { status: 0, taken: 0, refused: [] as string[] };
  const snapshot = new Snapshot(async () => {
    counts.taken++;
    return { ok: true };
  }, 1000);
  const s = startPeerServer(
    0,
    { ca: ca.ca, ...peer, peerName: PEER, onRefused: (why) => counts.refused.push(why) },
    () => ({ healthy: true, body: {} }),
    undefined,
    {
      host: '127.0.0.1',
      status: () => {
        counts.status++;
        return snapshot.get();
      },
    },
  );
  await new Promise((r) => s.once('listening', r));
  return { s, port: (s.address() as AddressInfo).port, counts };
}

/**
 * Opens a TLS connection, sends `n` pipelined GET /status and counts the responses until the
 * server closes or `ms` pass. `error` is the handshake's or the socket's error, if any.
 */
function pipelined(port: number, creds: Partial<ConnectionOptions>, n: number, ms = 3000): Promise<{ answers: number; error?: string; secured: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    let secured = false;
    let error: string | undefined;
    const socket = connect({ host: '127.0.0.1', port, ca: ca.ca, checkServerIdentity: () => undefined, ...creds }, () => {
      secured = true;
      socket.write('GET /status HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(n));
    });
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ answers: (text.match(/HTTP\/1\.1 200/g) ?? []).length, error, secured });
    };
    const timer = setTimeout(done, ms);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.on('close', done);
  });
}

test('a webapp\'s certificate (same CA, not the peer\'s name): 2,000 pipelined /status get no answer and never reach the handler', async (t) => {
  const { s, port, counts } = await server();
  t.teardown(() => s.close());
  const r = await pipelined(port, webapp, 2000);
  t.is(r.answers, 0);
  t.is(counts.status, 0, 'no request was parsed');
  t.is(counts.taken, 0, 'HAProxy was asked nothing');
  await waitFor(() => counts.refused.some((w) => /not "leasehold-renderer-peer"/.test(w)), 'the refusal reported', 5000, 50);
});

test('no client certificate, or one of another CA: the handshake fails, no answer', async (t) => {
  const { s, port, counts } = await server();
  t.teardown(() => s.close());
  for (const creds of [{}, other]) {
    const r = await pipelined(port, creds, 10);
    t.is(r.answers, 0, JSON.stringify(r));
  }
  t.is(counts.status, 0);
  // Over TLS 1.3 the client may finish its side before the server refuses: what counts is that
  // the server refused (reported) and answered nothing.
  await waitFor(() => counts.refused.length >= 2, 'both refusals reported', 5000, 50);
});

test('a peer is answered; its pipelined burst is bounded per connection and costs HAProxy one snapshot', async (t) => {
  const { s, port, counts } = await server();
  t.teardown(() => s.close());
  // 40, not 2,000: past 16 the server closes, and a reset over unread requests may drop answers.
  const r = await pipelined(port, peer, 40);
  t.true(r.secured);
  t.true(r.answers >= 1, `answered: ${r.answers}`);
  t.true(r.answers <= 16, `at most 16 requests per connection, then it is closed: ${r.answers}`);
  t.is(counts.taken, 1, 'one show stat for the whole burst (the snapshot lasts 1 s)');
});

test('the CLI reaches a peer endpoint with the peer certificate, checks the renderer by name, and says why it cannot', async (t) => {
  const { s, port } = await server();
  t.teardown(() => s.close());
  const url = `https://127.0.0.1:${port}`;
  const ok = await fetchStatus(url, 3000, { ca: ca.ca, ...peer, name: PEER });
  t.deepEqual(ok.status as unknown, { ok: true });
  const wrongName = await fetchStatus(url, 3000, { ca: ca.ca, ...peer, name: 'someone-else' });
  t.regex(wrongName.error ?? '', /not "someone-else"/);
  const asWebapp = await fetchStatus(url, 3000, { ca: ca.ca, ...webapp, name: PEER });
  t.truthy(asWebapp.error, 'a webapp certificate gets no /status');
});

test('a client without a certificate holding connections open and reopening them takes at most its own share: a peer is still answered', async (t) => {
  const { s, port } = await server();
  let stop = false;
  const socks = new Set<Socket>();
  // From 127.0.0.2: another container's address, as far as the server can tell.
  const open = () => {
    if (stop) return;
    const x = netConnect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
    socks.add(x);
    x.on('error', () => undefined);
    x.on('close', () => {
      socks.delete(x);
      setTimeout(open, 5);
    });
  };
  t.teardown(() => {
    stop = true;
    for (const x of socks) x.destroy();
    s.close();
  });
  for (let i = 0; i < 40; i++) open();
  await sleep(500);
  let ok = 0;
  for (let i = 0; i < 10; i++) {
    const r = await fetchStatus(`https://127.0.0.1:${port}`, 2000, { ca: ca.ca, ...peer, name: PEER });
    if (r.status) ok++;
    await sleep(100);
  }
  stop = true;
  t.is(ok, 10, `a real peer answered ${ok} of 10 times`);
});
