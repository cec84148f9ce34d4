import test from 'ava';
import { cookies, get } from '../../harness/http.js';
import { freePort } from '../../harness/ports.js';
import { node } from '../../harness/process.js';
import { waitFor } from '../../harness/wait.js';

test('GET / answers who served it, and counts views per NODESESSID session', async (t) => {
  const port = await freePort();
  const app = node('app', 'images/webapp/server.js', { PORT: String(port), TAG: 'blue' });
  t.teardown(() => app.stop());
  const url = `http://127.0.0.1:${port}/`;
  const first = await waitFor(async () => ((await get(url)).status === 200 ? get(url) : undefined), 'app to listen');
  t.like(first.body, { hello: 'world!', tag: 'blue', sessionViews: 1 });
  t.is(typeof first.body.host, 'string');
  t.regex(first.body.ip, /^[0-9a-f.:]+$/);
  const sid = cookies(first);
  t.regex(sid, /^NODESESSID=[a-f0-9]{32}$/);
  t.is(first.body.id, sid.split('=')[1]);
  for (let i = 2; i <= 5; i++) {
    const r = await get(url, { cookie: sid });
    t.is(r.body.sessionViews, i);
    t.is(r.body.id, first.body.id);
    t.is(r.headers['set-cookie'], undefined);
  }
  // A client without the cookie is a new session.
  t.is((await get(url)).body.sessionViews, 1);
  t.is((await get(`http://127.0.0.1:${port}/nope`)).status, 404);
});

test('SIGTERM drains: health turns 503, requests still answered for DRAIN_MS, then exit 0', async (t) => {
  const port = await freePort();
  const app = node('app', 'images/webapp/server.js', { PORT: String(port), DRAIN_MS: '1500' });
  t.teardown(() => app.stop());
  const base = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await get(`${base}/health`)).status === 200, 'app healthy');
  const sent = Date.now();
  app.signal('SIGTERM');
  await waitFor(async () => (await get(`${base}/health`)).status === 503, 'health 503 while draining', 1000, 10);
  t.is((await get(`${base}/`)).status, 200, 'still serving while draining');
  t.is(await app.exited, 0);
  const took = Date.now() - sent;
  t.true(took >= 1400 && took < 6000, `exit after ${took} ms`);
});
