import test from 'ava';
import fc from 'fast-check';
import { BlockList } from 'node:net';
import { type AdmissionRules, DEFAULT_RULES, addressProblem, admit } from '../../common/admission.js';
import { RecordError } from '../../common/errors.js';

const rules = (over: Partial<AdmissionRules> = {}): AdmissionRules => ({
  ...DEFAULT_RULES,
  ownHosts: new Set(['172.18.0.9']),
  lbPorts: new Set([80, 1936, 8405]),
  etcdHosts: new Set(['172.18.0.2']),
  etcdEndpoints: new Set(['172.18.0.2:2379', '127.0.0.1:2379']),
  services: new Set(['webapp', 'api']),
  ...over,
});
const value = (o: Record<string, unknown> = {}) =>
  JSON.stringify({ id: 'a1', service: 'webapp', address: '172.18.0.4', port: 3000, tag: 'a1', weight: 100, state: 'up', registeredAt: '2026-11-22T00:00:00.000Z', ...o });
const kv = (o: Record<string, unknown> = {}, lease = '7587', key = '/nodes/webapp/a1') => ({ key, value: value(o), lease });
const reason = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    if (err instanceof RecordError) return err.reason;
    throw err;
  }
  return undefined;
};

test('a valid record on a lease is admitted', (t) => {
  t.like(admit('/nodes/', kv(), rules()).record, { id: 'a1', address: '172.18.0.4' });
  t.like(admit('/nodes/', kv({ address: 'fd00::12' }), rules()).record, { address: 'fd00::12' });
});

const refusals: [string, ReturnType<typeof kv>, RegExp, Partial<AdmissionRules>?][] = [
  ['a key without a lease (plain etcdctl put)', kv({}, '0'), /no lease/],
  ['a value over 4 KiB', kv({ pad: 'x'.repeat(5000) }), /over 4096/],
  ['a service not routed by this LB', kv({ service: 'etcd', id: 'a1' }, '7', '/nodes/etcd/a1'), /not routed/],
  ['a key that disagrees with the value', kv({ id: 'b2' }), /does not match/],
  ['loopback', kv({ address: '127.0.0.1' }), /loopback/],
  ['loopback anywhere in 127/8', kv({ address: '127.8.9.10' }), /loopback/],
  ['IPv6 loopback', kv({ address: '::1' }), /loopback/],
  ['IPv4-mapped loopback', kv({ address: '::ffff:127.0.0.1' }), /IPv4-mapped/],
  // Other spellings of a mapped address: without this, an etcd or peer address got through.
  ['IPv4-mapped, long form', kv({ address: '0:0:0:0:0:ffff:10.0.0.5' }), /IPv4-mapped/],
  ['IPv4-mapped, hex', kv({ address: '0::ffff:a00:5' }), /IPv4-mapped/],
  ['IPv4-mapped, zeros spelled out', kv({ address: '::0:ffff:10.0.0.7' }), /IPv4-mapped/],
  ['the unspecified address', kv({ address: '0.0.0.0' }), /unicast/],
  ['the IPv6 unspecified address', kv({ address: '::' }), /unicast/],
  ['link-local', kv({ address: '169.254.1.1' }), /unicast/],
  ['IPv6 link-local', kv({ address: 'fe80::1' }), /unicast/],
  ['a zone id', kv({ address: 'fe80::1%eth0' }), /zone id/],
  ['multicast', kv({ address: '239.1.1.1' }), /unicast/],
  ['IPv6 multicast', kv({ address: 'ff02::1' }), /unicast/],
  ['broadcast', kv({ address: '255.255.255.255' }), /unicast/],
  ['the LB itself', kv({ address: '172.18.0.9', port: 8080 }), /load balancer's own/],
  ["another LB (LB_PEERS)", kv({ address: '172.18.0.10', port: 8405 }), /another load balancer's/, { peerHosts: new Set(['172.18.0.10']) }],
  ["another LB's frontend, even with local nodes allowed", kv({ address: '172.18.0.10', port: 80 }), /another load balancer's/, { peerHosts: new Set(['172.18.0.10']), allowLocal: true }],
  ["etcd's address", kv({ address: '172.18.0.2', port: 2380 }), /etcd's/],
  ["etcd's client endpoint, even with local nodes allowed", kv({ address: '127.0.0.1', port: 2379 }), /etcd's/, { allowLocal: true }],
  ["the LB's own listener, even with local nodes allowed", kv({ address: '127.0.0.1', port: 80 }), /listener of the load balancer/, { allowLocal: true }],
  ['an address outside ALLOWED_NETWORKS', kv({ address: '10.9.9.9' }), /ALLOWED_NETWORKS/, { allowed: (() => { const b = new BlockList(); b.addSubnet('172.18.0.0', 16, 'ipv4'); return b; })() }],
  ['a wrong type', kv({ port: '3000' }), /port/],
  ['not JSON', { key: '/nodes/webapp/a1', value: '{x', lease: '7' }, /not JSON/],
];
for (const [what, input, why, over] of refusals) {
  test(`refuses ${what}`, (t) => {
    t.regex(reason(() => admit('/nodes/', input, rules(over))) ?? 'admitted', why);
  });
}

test('local nodes allowed: loopback and own addresses off the LB ports are admitted', (t) => {
  t.notThrows(() => admit('/nodes/', kv({ address: '127.0.0.1', port: 3000 }), rules({ allowLocal: true })));
  t.notThrows(() => admit('/nodes/', kv({ address: '172.18.0.9', port: 3000 }), rules({ allowLocal: true })));
});

test('unknown fields are tolerated and named (a newer registrar never drops out)', (t) => {
  const a = admit('/nodes/', kv({ zone: 'eu-1', capacity: 3 }), rules());
  t.deepEqual(a.unknownFields, ['zone', 'capacity']);
  t.false('zone' in a.record);
});

test('a huge field name or value never makes a huge reason', (t) => {
  const r1 = reason(() => admit('/nodes/', { key: '/nodes/webapp/a1', value: `{"${'k'.repeat(1 << 20)}":1}`, lease: '7' }, rules())) ?? '';
  t.true(r1.length < 300, `${r1.length} characters`);
  const r2 = reason(() => admit('/nodes/', { key: `/nodes/webapp/${'x'.repeat(100000)}`, value: value(), lease: '7' }, rules())) ?? '';
  t.true(r2.length < 300, `${r2.length} characters`);
});

test('property: any public unicast IPv4 in a routed service is admitted; nothing else throws but RecordError', (t) => {
  const publicV4 = fc.tuple(fc.integer({ min: 1, max: 223 }), fc.nat(255), fc.nat(255), fc.integer({ min: 1, max: 254 })).filter(([a, b]) => a !== 127 && !(a === 169 && b === 254) && a !== 0);
  fc.assert(
    fc.property(publicV4, fc.integer({ min: 1, max: 65535 }), (ip, port) => {
      const address = ip.join('.');
      if (address === '172.18.0.9' || address === '172.18.0.2') return;
      admit('/nodes/', kv({ address, port }), rules());
    }),
  );
  t.pass();
});

test('property: 127/8, 224/4, 240/4 and 0/8 are never admitted', (t) => {
  fc.assert(
    fc.property(fc.constantFrom(0, 127, 224, 230, 239, 240, 255), fc.nat(255), fc.nat(255), fc.nat(255), (a, b, c, d) => {
      const address = `${a}.${b}.${c}.${d}`;
      return reason(() => admit('/nodes/', kv({ address }), rules())) !== undefined;
    }),
  );
  t.pass();
});

test('property: arbitrary JSON values and shapes are refused with a RecordError, never a crash', (t) => {
  fc.assert(
    fc.property(fc.jsonValue(), fc.option(fc.string({ maxLength: 80 })), (json, lease) => {
      try {
        admit('/nodes/', { key: '/nodes/webapp/a1', value: JSON.stringify(json) ?? 'null', lease: lease ?? undefined }, rules());
      } catch (err) {
        return err instanceof RecordError && err.message.length < 600;
      }
      return true;
    }),
    { numRuns: 500 },
  );
  t.pass();
});

test('addressProblem on its own: what a registrar checks before it writes', (t) => {
  t.is(addressProblem('10.0.0.1'), undefined);
  t.regex(addressProblem('fe80::1%eth0')!, /zone/);
  t.regex(addressProblem('example.com')!, /literal/);
});
