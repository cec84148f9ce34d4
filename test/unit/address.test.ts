// Which address a registrar advertises: the first non-loopback one, or with ADVERTISE_NETWORK
// the one inside that network, as a swarm task on several networks needs.
import test from 'ava';
import { type Interfaces, ownAddress } from '../../common/address.js';
import { AddressError, OptionError } from '../../common/errors.js';
import { registrarOptionsFromEnv } from '../../registrar/options.js';
import { Registrar } from '../../registrar/registrar.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { FakeLeaseStore } from '../helpers/fake-lease-store.js';

const nic = (address: string, family: 'IPv4' | 'IPv6' = 'IPv4', internal = false) =>
  ({ address, family, internal, netmask: '', mac: '00:00:00:00:00:00', cidr: null }) as unknown as NonNullable<Interfaces[string]>[number];

// A swarm task on two overlay networks plus docker_gwbridge (its way out). Seen on Docker 20.10:
// a service given `--network b --network a` had eth0 on a, eth1 on b, eth2 on docker_gwbridge,
// and os.networkInterfaces() listed lo, eth0, eth2, eth1: neither the order the networks were
// given in nor the interfaces' own. Here 10.0.0.0/24 stands for the network HAProxy is not on.
const swarmTask: Interfaces = {
  lo: [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)],
  eth0: [nic('10.0.0.12')],
  eth1: [nic('10.231.0.7'), nic('fd00:231::7', 'IPv6')],
  eth2: [nic('172.18.0.5')],
};

test('without ADVERTISE_NETWORK: the first non-loopback IPv4 address listed, which on a swarm task can be another network', (t) => {
  t.is(ownAddress([], swarmTask), '10.0.0.12');
  t.is(ownAddress([], { lo: [nic('127.0.0.1', 'IPv4', true)], eth0: [nic('fd00::5', 'IPv6'), nic('192.168.1.4')] }), '192.168.1.4');
});

test('with ADVERTISE_NETWORK: the address inside it, whatever the interface order', (t) => {
  t.is(ownAddress(['10.231.0.0/16'], swarmTask), '10.231.0.7');
  t.is(ownAddress(['10.231.0.0/16'], { eth2: swarmTask.eth2, eth1: swarmTask.eth1, eth0: swarmTask.eth0 }), '10.231.0.7');
  t.is(ownAddress(['192.168.0.0/16', '172.16.0.0/12'], swarmTask), '172.18.0.5', 'any of several CIDRs');
  t.is(ownAddress(['fd00:231::/64'], swarmTask), 'fd00:231::7', 'IPv6');
});

test('with ADVERTISE_NETWORK and no address inside it: a retryable AddressError naming what the host has', (t) => {
  const err = t.throws(() => ownAddress(['10.99.0.0/16'], swarmTask), { instanceOf: AddressError });
  t.true(err!.retryable);
  t.regex(err!.message, /10\.99\.0\.0\/16.*10\.231\.0\.7/);
  t.throws(() => ownAddress(['127.0.0.0/8'], swarmTask), { instanceOf: AddressError }, 'loopback is never advertised');
});

test('ADVERTISE_NETWORK is read as a comma-separated list of CIDRs; anything else is refused at start', (t) => {
  t.deepEqual(registrarOptionsFromEnv({ ADVERTISE_NETWORK: '10.231.0.0/16, fd00::/8' }, 'h').advertiseNetworks, ['10.231.0.0/16', 'fd00::/8']);
  t.deepEqual(registrarOptionsFromEnv({}, 'h').advertiseNetworks, []);
  for (const bad of ['10.231.0.0', '10.231.0.0/33', 'overlay/16', '10.0.0.0/x']) {
    t.throws(() => registrarOptionsFromEnv({ ADVERTISE_NETWORK: bad }, 'h'), { instanceOf: OptionError, message: /ADVERTISE_NETWORK/ }, bad);
  }
});

test('a registrar whose network is not up yet retries (AddressError) and registers the overlay address once it is', async (t) => {
  const clock = new FakeClock();
  const etcd = new FakeLeaseStore(clock);
  let nics: Interfaces = { eth0: [nic('172.18.0.5')] }; // only docker_gwbridge so far
  const o = registrarOptionsFromEnv({ NODE_ID: 'task-1', ADVERTISE_NETWORK: '10.231.0.0/16' }, 'h');
  const registrar = new Registrar(o, { store: etcd, appHealthy: async () => true, ownAddress: () => ownAddress(o.advertiseNetworks, nics), clock, random: () => 0 });
  const retries: { retryable: boolean; error: Error }[] = [];
  registrar.on('retry', (e) => retries.push(e));
  t.teardown(() => registrar.stop());
  registrar.start();
  await clock.advance(1000);
  t.is(registrar.state, 'registering');
  t.true(retries.length > 0 && retries.every((e) => e.retryable && e.error instanceof AddressError));
  t.falsy(etcd.stored('/nodes/webapp/task-1'), 'no record with a wrong address');
  nics = swarmTask;
  await clock.advance(3000);
  t.is(registrar.state, 'registered');
  t.is(JSON.parse(etcd.stored('/nodes/webapp/task-1')!.value).address, '10.231.0.7');
});
