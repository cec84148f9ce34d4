import test from 'ava';
import { OptionError } from '../../common/errors.js';
import { rendererOptionsFromEnv } from '../../renderer/options.js';

test('renderer options have documented defaults and refuse config text', (t) => {
  t.like(rendererOptionsFromEnv({}), {
    configPath: '/etc/haproxy/haproxy.cfg', frontendBind: '*:80', statsBind: '*:1936', coalesceMinMs: 5, coalesceMaxMs: 200, resyncIntervalMs: 30000,
    reconcileIntervalMs: 5000, minSlots: 16, shrinkAfterMs: 300000, leaveMaxMs: 60000, mirrorDelayMs: 1000, hardStopAfter: '5m', connectTimeout: '100ms', cookieKey: undefined, healthBind: '127.0.0.1',
  });
  t.throws(() => rendererOptionsFromEnv({ FRONTEND_BIND: '*:80\nlisten evil' }), { instanceOf: OptionError });
  t.throws(() => rendererOptionsFromEnv({ COOKIE_KEY: 'short' }), { instanceOf: OptionError, message: /COOKIE_KEY/ });
  t.throws(() => rendererOptionsFromEnv({ COOKIE_KEY: 'a-long-key with-a-space' }), { instanceOf: OptionError, message: /COOKIE_KEY/ });
  t.throws(() => rendererOptionsFromEnv({ HARD_STOP_AFTER: '5m\n  listen x' }), { instanceOf: OptionError, message: /HARD_STOP_AFTER/ });
  t.throws(() => rendererOptionsFromEnv({ COALESCE_MIN_MS: '500', COALESCE_MAX_MS: '100' }), { instanceOf: OptionError });
  t.like(rendererOptionsFromEnv({}), { maxNodesPerService: 16384, storeUnsyncedUnhealthyMs: 30000 });
  t.like(rendererOptionsFromEnv({ MAX_SLOTS: '2048' }), { maxNodesPerService: 2048 }, 'the cap follows MAX_SLOTS by default');
});

test('renderer options: the peer endpoint is by certificate; the old address allowlist is refused with its replacement named', (t) => {
  t.like(rendererOptionsFromEnv({}), { peerPort: 8406, peerCert: undefined, peerName: 'leasehold-renderer-peer', lbPeers: [], lbPeersRefreshMs: 5000 });
  t.like(rendererOptionsFromEnv({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_CA: '/ca.pem', RENDERER_PEER_CERT: '/p.pem', RENDERER_PEER_KEY: '/k.pem', LB_PEERS: 'ha1, tasks.ha' }), { peerCa: '/ca.pem', lbPeers: ['ha1', 'tasks.ha'] });
  t.throws(() => rendererOptionsFromEnv({ RENDERER_HEALTH_PEERS: 'ha1,ha2' }), { instanceOf: OptionError, message: /by certificate.*LB_PEERS/ });
  t.throws(() => rendererOptionsFromEnv({ RENDERER_PEER_CERT: '/p.pem' }), { instanceOf: OptionError, message: /go together/ });
  t.throws(() => rendererOptionsFromEnv({ RENDERER_PEER_CERT: '/p.pem', RENDERER_PEER_KEY: '/k.pem' }), { instanceOf: OptionError, message: /CA/ });
  t.throws(() => rendererOptionsFromEnv({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_CA: '/c', RENDERER_PEER_CERT: '/p', RENDERER_PEER_KEY: '/k', RENDERER_PEER_PORT: '8405' }), { instanceOf: OptionError, message: /differ/ });
});
