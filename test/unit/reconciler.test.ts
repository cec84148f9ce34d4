import test from 'ava';
import type { DesiredServer } from '../../renderer/diff.js';
import { type Actual, observeServers, observeWorker } from '../../renderer/observe.js';
import { Reconciler } from '../../renderer/reconciler.js';
import type { ActualServer } from '../../renderer/slots.js';
import { FakeHaproxy } from '../helpers/fake-haproxy.js';

const want = (server: string, admin: DesiredServer['admin'], address = '10.0.0.1', port = 3000, weight = 100): DesiredServer =>
  admin === 'maint' ? { backend: 'webapp', server, admin } : { backend: 'webapp', server, admin, node: server, address, port, weight };

function worker(): FakeHaproxy {
  const h = new FakeHaproxy('/nonexistent');
  h.load('backend webapp\n  server s1 127.0.0.1:1 weight 1 disabled\n  server s2 127.0.0.1:1 weight 1 disabled\n');
  return h;
}

test('a join takes one re-read of the worker, not one per round; a refused address stays out of rotation', async (t) => {
  const h = worker();
  const m = new Reconciler(h, () => observeWorker(h, []));
  const start = await observeWorker(h, []);
  h.refuseAddress = /^10\.6\.6\.6$/;
  const reads = h.reads;
  const out = await m.reconcile([want('s1', 'ready', '10.0.0.9', 4000, 7), want('s2', 'ready', '10.6.6.6', 4000, 7)], start);
  t.deepEqual(h.live(), ['webapp/s1=10.0.0.9:4000']);
  t.false(h.commands.includes('set server webapp/s2 state ready'), 'never in rotation at the address it had');
  t.deepEqual(out.unconverged.map((x) => x.desired.server), ['s2']);
  t.true(out.refused.every((r) => r.command === 'set server webapp/s2 addr 10.6.6.6 port 4000'));
  // s1 converged after its first re-read; s2's address was tried in each of the 3 rounds.
  t.is(h.reads - reads, 3);
  const h2 = worker();
  const m2 = new Reconciler(h2, () => observeWorker(h2, []));
  const reads2 = h2.reads;
  const ok = await m2.reconcile([want('s1', 'ready', '10.0.0.9', 4000, 7)], await observeWorker(h2, []));
  t.is(ok.unconverged.length, 0);
  t.is(h2.reads - reads2, 2, 'the start and one re-read');
  t.deepEqual(h2.inRotationAt, ['webapp/s1=10.0.0.9:4000']);
});

/** The renderer's reader: whole reads, and read-backs of touched servers against the last one. */
function reader(h: FakeHaproxy) {
  const whole = () => observeWorker(h, []);
  return { whole, observe: async (touched?: ActualServer[], last?: Actual) => (touched && last ? observeServers(h, touched, last) : whole()) };
}

test('a change reads back only the servers it touched: a show stat line each, never the whole table', async (t) => {
  for (const late of [false, true]) {
    const h = worker();
    h.lateAddresses = late;
    const r = reader(h);
    const m = new Reconciler(h, r.observe);
    const start = await r.whole();
    const [reads, stats] = [h.reads, h.statReads];
    const out = await m.reconcile([want('s1', 'ready', '10.0.0.9', 4000, 7), want('s2', 'maint')], start);
    t.is(out.unconverged.length, 0, `late addresses: ${late}`);
    t.deepEqual(h.live(), ['webapp/s1=10.0.0.9:4000']);
    t.deepEqual(h.inRotationAt, ['webapp/s1=10.0.0.9:4000'], 'never in rotation at its old address');
    t.is(h.reads - reads, 0, 'no show servers state');
    t.true(h.statReads - stats <= 4, `${h.statReads - stats} show stat lines for one server`);
  }
});

test('a drain of a server whose check fails (show stat says DOWN, hiding the drain) is read from its backend and converges', async (t) => {
  const h = worker();
  h.failingChecks.add('webapp/s1');
  const r = reader(h);
  const m = new Reconciler(h, r.observe);
  const start = await r.whole();
  const reads = h.reads;
  const out = await m.reconcile([want('s1', 'drain', '127.0.0.1', 1, 1), want('s2', 'maint')], start);
  t.is(out.unconverged.length, 0);
  t.is(h.commands.filter((c) => c === 'set server webapp/s1 state drain').length, 1, 'sent once, not once a round');
  t.is(h.reads - reads, 1, "one read of the backend's servers state");
});

test('HAProxy ≥ 2.9 applies an address after answering: ready waits until the address shows applied', async (t) => {
  const h = worker();
  h.lateAddresses = true; // applied only at the next whole read: the worst case
  const m = new Reconciler(h, () => observeWorker(h, []));
  // s2 moves its port only: the answer names the port, and show stat still shows the old one.
  const out = await m.reconcile([want('s1', 'ready', '10.0.0.9', 4000, 7), want('s2', 'ready', '127.0.0.1', 4001, 7)], await observeWorker(h, []));
  t.is(out.unconverged.length, 0);
  t.deepEqual(h.inRotationAt, ['webapp/s1=10.0.0.9:4000', 'webapp/s2=127.0.0.1:4001'], 'never in rotation at 127.0.0.1:1');
  t.deepEqual(h.live(), ['webapp/s1=10.0.0.9:4000', 'webapp/s2=127.0.0.1:4001']);
});
