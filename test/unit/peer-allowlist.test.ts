import test from 'ava';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startHealthServer } from '../../common/health-server.js';
import { PeerAllowlist, isLoopback, plainAddress } from '../../common/peer-allowlist.js';

test('loopback, IPv4-mapped or not, is always allowed; nothing else without peers', async (t) => {
  const list = new PeerAllowlist([], async () => t.fail('no peer to look up') as never);
  for (const a of ['127.0.0.1', '127.3.4.5', '::1', '::ffff:127.0.0.1']) t.true(await list.allows(a), a);
  for (const a of ['172.18.0.5', '::ffff:172.18.0.5', '10.0.0.1', '::', undefined]) t.false(await list.allows(a), String(a));
  t.is(plainAddress('::FFFF:10.1.2.3'), '10.1.2.3');
  t.false(isLoopback('::ffff:10.0.0.1'));
});

test('peers by name: their addresses get in; a new address is looked up again, at most once a second', async (t) => {
  let now = 0;
  const answers: Record<string, string[]> = { ha1: ['172.18.0.5'], ha2: ['172.18.0.6'] };
  let lookups = 0;
  const list = new PeerAllowlist(['ha1', 'ha2', '10.9.9.9'], async (name) => {
    lookups++;
    const a = answers[name];
    if (!a) throw new Error(`ENOTFOUND ${name}`);
    return a;
  }, () => now);
  t.true(await list.allows('::ffff:172.18.0.6'));
  t.true(await list.allows('10.9.9.9'), 'an address given as such');
  t.false(await list.allows('172.18.0.7'), 'a webapp');
  const before = lookups;
  t.false(await list.allows('172.18.0.7'));
  t.is(lookups, before, 'no second lookup within the second');
  // ha2 restarted with a new address; ha1 gone (does not resolve)
  answers.ha2 = ['172.18.0.9'];
  delete answers.ha1;
  now += 1000;
  t.true(await list.allows('172.18.0.9'));
  now += 1000;
  t.false(await list.allows('172.18.0.5'), 'the old address of a peer that is gone');
  // ha2 moves again; its last address, known, is still allowed until the 30 s are up
  answers.ha2 = ['172.18.0.12'];
  t.true(await list.allows('172.18.0.9'));
  now += 30000;
  t.false(await list.allows('172.18.0.9'), 'a known address a peer no longer has is forgotten within 30 s');
});

test('the health server cuts off a refused client before answering, and answers an allowed one', async (t) => {
  const refused: (string | undefined)[] = [];
  let allowed = false;
  const server = startHealthServer(0, () => ({ healthy: true, body: { ok: 1 } }), undefined, {
    allow: async () => allowed,
    onRefused: (r) => refused.push(r),
  });
  t.teardown(() => server.close());
  await new Promise((r) => server.once('listening', r));
  const port = (server.address() as AddressInfo).port;
  const get = () =>
    new Promise<number | string>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/health' }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end();
    });
  t.is(await get(), 'ECONNRESET');
  t.is(refused.length, 1);
  allowed = true;
  t.is(await get(), 200);
});
