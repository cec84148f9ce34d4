import test from 'ava';
import type { RendererReply } from '../../cli/report.js';
import { lbsView, pageLbsFromEnv } from '../../renderer/page-lbs.js';

const slot = (slot: string, node: string, address: string, status: string) => ({ slot, state: 'ready' as const, node, address, port: 3000, weight: 100, haproxy: { status, sessions: 0, weight: 100 } });

test('two LBs side by side: a node placed alike (in another slot) agrees; one DOWN on one LB, or placed by one only, differs', (t) => {
  const replies: RendererReply[] = [
    { url: 'https://ha1:8406', status: { etcd: 'connected', converged: true, backends: { webapp: [slot('s1', 'a', '10.0.0.1', 'UP'), slot('s2', 'b', '10.0.0.2', 'UP'), slot('s3', 'c', '10.0.0.3', 'UP')] } } },
    { url: 'https://ha2:8406', status: { etcd: 'connected', converged: true, backends: { webapp: [slot('s2', 'a', '10.0.0.1', 'UP'), slot('s1', 'b', '10.0.0.2', 'DOWN')] } } },
    { url: 'https://ha3:8406', error: 'connect ECONNREFUSED' },
  ];
  const v = lbsView(replies, Date.parse('2026-01-01T00:00:00Z'));
  t.false(v.agree);
  t.is(v.differ, 2);
  t.deepEqual(v.nodes.map((n) => `${n.service}/${n.id}`), ['webapp/b', 'webapp/c']);
  t.deepEqual(v.nodes[1]!.lbs, [{ lb: 'LB1', slot: 's3', state: 'ready', target: '10.0.0.3:3000', haproxy: 'UP' }, { lb: 'LB2', slot: undefined, state: undefined, target: undefined, haproxy: undefined }]);
  t.like(v.renderers[2], { lb: 'LB3', reachable: false, error: 'connect ECONNREFUSED' });
  t.is(lbsView(replies, 0, 1).nodes.length, 1, 'at most `limit` nodes, the count says how many');
  t.true(lbsView(replies.slice(0, 1), 0).agree === false && lbsView(replies.slice(0, 1), 0).differ === 0, 'one LB: nothing compared');
});

test('the LBs come from the CLI settings beside the renderer; fewer than two: no comparison', (t) => {
  t.is(pageLbsFromEnv({}), undefined);
  t.is(pageLbsFromEnv({ LEASEHOLD_RENDERERS: 'http://127.0.0.1:8405' }), undefined);
  t.deepEqual(pageLbsFromEnv({ LEASEHOLD_RENDERERS: 'ha1:8405, http://ha2:8405/' }), { urls: ['http://ha1:8405', 'http://ha2:8405'] });
  t.throws(() => pageLbsFromEnv({ LEASEHOLD_RENDERERS: 'https://ha1:8406,https://ha2:8406', LEASEHOLD_RENDERER_CA: '/nonexistent/ca.pem' }));
});
