import test from 'ava';
import { admit } from '../../common/admission.js';
import type { Interfaces } from '../../common/address.js';
import { admissionRules, routeGateways } from '../../renderer/admission-rules.js';
import { rendererOptionsFromEnv } from '../../renderer/options.js';

// The rules a renderer builds from where it runs: its interfaces (an LB container on one compose
// network here), its listeners, etcd's endpoints. Each refusal below needs that collection to work.
const iface = (address: string, cidr: string, internal = false) => ({ address, cidr, internal, family: address.includes(':') ? 'IPv6' : 'IPv4', netmask: '', mac: '' }) as NonNullable<Interfaces[string]>[number];
let interfaces: Interfaces = { lo: [iface('127.0.0.1', '127.0.0.0/8', true)], eth0: [iface('172.20.0.4', '172.20.0.0/16')] };
const kv = (address: string, port = 3000) => ({ key: '/nodes/webapp/n1', value: JSON.stringify({ id: 'n1', service: 'webapp', address, port, tag: 't', weight: 100, state: 'up', registeredAt: '2026-01-01T00:00:00Z' }), lease: '7' });

async function rules(env: Record<string, string> = {}) {
  return admissionRules(rendererOptionsFromEnv({ ETCD_ENDPOINTS: 'http://172.20.0.2:2379', ...env }), () => interfaces, () => ['172.20.0.1', 'fd00:1::1']);
}

test('by default a node must be on a network the LB is attached to: a public or foreign address is refused', async (t) => {
  const { rules: r } = await rules();
  t.is(admit('/nodes/', kv('172.20.0.9'), r).record.address, '172.20.0.9');
  for (const a of ['8.8.8.8', '10.0.0.5', '192.168.1.1', '2001:db8::1']) t.throws(() => admit('/nodes/', kv(a), r), { message: /outside the load balancer's own networks/ }, a);
});

test('ALLOWED_NETWORKS replaces the default; * allows any unicast address', async (t) => {
  const narrow = (await rules({ ALLOWED_NETWORKS: '10.0.0.0/8' })).rules;
  const any = (await rules({ ALLOWED_NETWORKS: '*' })).rules;
  t.throws(() => admit('/nodes/', kv('172.20.0.9'), narrow), { message: /outside ALLOWED_NETWORKS/ });
  t.notThrows(() => admit('/nodes/', kv('203.0.113.9'), any));
});

test("the LB's own interface address is refused (a loop through port 80, its stats and renderer), and etcd's host at any port", async (t) => {
  const { rules: r } = await rules({ RENDERER_PEER_CERT: '/p', RENDERER_PEER_KEY: '/k', ETCD_ENDPOINTS: 'https://172.20.0.2:2379', ETCD_CA: '/ca' });
  for (const port of [80, 1936, 8405, 8406, 3000]) t.throws(() => admit('/nodes/', kv('172.20.0.4', port), r), { message: /load balancer's own|listener of the load balancer/ }, String(port));
  for (const port of [2379, 2380, 3000]) t.throws(() => admit('/nodes/', kv('172.20.0.2', port), r), { message: /etcd's/ }, String(port));
});

test('a network attached later is looked up again: refresh says so, and its nodes are admitted', async (t) => {
  const { rules: r, refresh } = await rules();
  t.throws(() => admit('/nodes/', kv('172.21.0.9'), r));
  t.false(await refresh(), 'nothing changed');
  interfaces = { ...interfaces, eth1: [iface('172.21.0.3', '172.21.0.0/16')] };
  t.true(await refresh(), 'a new network');
  t.notThrows(() => admit('/nodes/', kv('172.21.0.9'), r));
  t.throws(() => admit('/nodes/', kv('172.21.0.3', 80), r), { message: /own/ }, 'and the new address is our own');
});

test("the networks' gateways (the Docker host, whose published ports lead back into the LB) are refused at any port", async (t) => {
  const { rules: r } = await rules();
  for (const port of [8080, 80, 22]) t.throws(() => admit('/nodes/', kv('172.20.0.1', port), r), { message: /gateway/ }, String(port));
  t.notThrows(() => admit('/nodes/', kv('172.20.0.9'), r));
});

test('gateways are read from the kernel\'s route tables', (t) => {
  const files: Record<string, string> = {
    '/proc/net/route': 'Iface\tDestination\tGateway \tFlags\neth0\t00000000\t010014AC\t0003\neth0\t000014AC\t00000000\t0001\n',
    '/proc/net/ipv6_route': 'fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001 eth0\n00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000001000000000000000000000001 00000400 00000001 00000000 00000003 eth0\n',
  };
  t.deepEqual(routeGateways((p) => files[p] ?? ''), ['172.20.0.1', 'fd00:1::1']);
});
