import test from 'ava';
import { buildImages, docker, image } from '../../harness/compose.js';
import { get } from '../../harness/http.js';
import { waitFor } from '../../harness/wait.js';

test.before(() => buildImages());

test('the ha image answers 503 until the renderer writes its first config, and never crash-loops', async (t) => {
  // No etcd anywhere: the renderer cannot list, so HAProxy stays on its bootstrap config.
  const c = await docker.createContainer({
    Image: image('ha'),
    Env: ['ETCD_ENDPOINTS=http://127.0.0.1:1', 'LOG_LEVEL=info'],
    Labels: { 'leasehold.test-run': `ha-image-${process.pid}` },
    ExposedPorts: { '80/tcp': {}, '1936/tcp': {} },
    HostConfig: { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }], '1936/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  t.teardown(() => c.remove({ force: true, v: true }));
  await c.start();
  const ports = (await c.inspect()).NetworkSettings.Ports;
  const lb = `http://127.0.0.1:${ports['80/tcp']![0]!.HostPort}/`;
  const stats = `http://127.0.0.1:${ports['1936/tcp']![0]!.HostPort}`;
  const first = await waitFor(async () => {
    const r = await get(lb);
    return r.status !== 0 ? r : undefined;
  }, 'HAProxy to answer', 20000, 100);
  t.is(first.status, 503);
  t.is((await get(`${stats}/;csv`)).status, 200);
  t.regex((await get(`${stats}/metrics`)).text, /haproxy_process_/);
  // Still up and still 503 a few seconds on: etcd's absence is logged, not fatal.
  await new Promise((r) => setTimeout(r, 4000));
  const info = await c.inspect();
  t.true(info.State.Running);
  t.is(info.RestartCount, 0);
  t.is((await get(lb)).status, 503);
  const logs = (await c.logs({ stdout: true, stderr: true })).toString();
  t.regex(logs, /etcd unreachable: keeping what HAProxy runs/);
});
