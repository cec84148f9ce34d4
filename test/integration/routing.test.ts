// Host routing as the shipped template renders it, on a real HAProxy (the host's, 2.6 on
// Debian 12): which backend a request reaches for each way a client can spell, or leave out, its Host.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { NodeRecord } from '../../common/record.js';
import { routesMapText } from '../../renderer/admission-rules.js';
import { DEFAULT_TEMPLATE } from '../../renderer/options.js';
import { type RenderSettings, compileTemplate, render, structureId } from '../../renderer/render.js';
import { SlotTable } from '../../renderer/slots.js';
import { requireBinary } from '../../harness/bins.js';
import { FIXTURE_SETTINGS } from '../helpers/fixtures.js';
import { haproxyCheck } from '../../harness/haproxy.js';
import { rawRequest } from '../../harness/http.js';
import { freePort } from '../../harness/ports.js';
import { Proc } from '../../harness/process.js';
import { waitFor } from '../../harness/wait.js';

/** A node of `service` on 127.0.0.1 that answers every request with its service's name. */
async function serviceNode(service: string): Promise<Server> {
  // HAProxy passes a request without Host on as it came: answer it rather than refuse it.
  const s = createServer({ requireHostHeader: false }, (_req, res) => res.end(service));
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return s;
}

const record = (service: string, server: Server): NodeRecord => ({
  id: `${service}-1`,
  service,
  address: '127.0.0.1',
  port: (server.address() as AddressInfo).port,
  tag: service,
  weight: 1,
  state: 'up',
  registeredAt: '2026-11-22T00:00:00.000Z',
});

let port: number;
const cleanup: (() => Promise<unknown>)[] = [];
test.after.always(async () => {
  for (const c of cleanup.reverse()) await c();
});

test.before(async () => {
  requireBinary('haproxy', 'haproxy');
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-routing-'));
  cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  const nodes = [await serviceNode('webapp'), await serviceNode('api')];
  cleanup.push(() => Promise.all(nodes.map((n) => new Promise((resolve) => n.close(resolve)))));
  port = await freePort();
  // FIXTURE_SETTINGS routes api.example.com to api; webapp is the default service.
  const settings: RenderSettings = {
    ...FIXTURE_SETTINGS,
    frontendBind: `127.0.0.1:${port}`,
    statsBind: `127.0.0.1:${await freePort()}`,
    adminSocket: join(dir, 'admin.sock'),
    stateFile: join(dir, 'server-state'),
    routesMap: join(dir, 'routes.map'),
  };
  writeFileSync(settings.routesMap, routesMapText(settings.routes));
  const slots = new SlotTable({ defaultService: 'webapp', services: ['api'], minSlots: 1, shrinkAfterMs: 60000 });
  slots.plan([record('webapp', nodes[0]!), record('api', nodes[1]!)], 0);
  const template = compileTemplate(readFileSync(DEFAULT_TEMPLATE, 'utf8'));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, render(template, slots.all(), settings, structureId(template, settings, slots.structure())));
  haproxyCheck(cfg);
  const haproxy = new Proc('haproxy', 'haproxy', ['-W', '-db', '-f', cfg]);
  cleanup.push(() => haproxy.stop());
  await waitFor(async () => (await rawRequest(port, 'GET / HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n')).body === 'api', 'HAProxy routing to api', 10000);
});

/** The backend (service) that answered, or the status when none did. */
async function reached(request: string): Promise<string> {
  const r = await rawRequest(port, request);
  return r.status === 200 ? r.body : `status ${r.status}`;
}

test('an HTTP/1.0 request without Host goes to the default service', async (t) => {
  t.is(await reached('GET / HTTP/1.0\r\n\r\n'), 'webapp');
});

test("an outer load balancer's default health check (OPTIONS / HTTP/1.0, no Host) is answered by the default service", async (t) => {
  t.is(await reached('OPTIONS / HTTP/1.0\r\n\r\n'), 'webapp');
});

test('an empty Host goes to the default service', async (t) => {
  t.is(await reached('GET / HTTP/1.0\r\nHost:\r\n\r\n'), 'webapp');
});

test('a routed Host reaches its service in any case, with a port, with a trailing dot, or both', async (t) => {
  for (const host of ['api.example.com', 'api.example.com.', 'API.example.com:80', 'Api.Example.Com.:8080']) {
    t.is(await reached(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), 'api', `Host: ${host}`);
  }
});

test('only one trailing dot is dropped, and only a dot: near misses go to the default service', async (t) => {
  for (const host of ['api.example.comm', 'api.example.com..', 'www.api.example.com', 'example.com', '[::1]:80']) {
    t.is(await reached(`GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), 'webapp', `Host: ${host}`);
  }
});
