import test from 'ava';
import { OptionError } from '../../common/errors.js';
import { etcdOptionsFromEnv } from '../../common/etcd.js';

test('etcd TLS files and auth are read from ETCD_CA, ETCD_CERT, ETCD_KEY, ETCD_USERNAME, ETCD_PASSWORD', (t) => {
  const o = etcdOptionsFromEnv({
    ETCD_ENDPOINTS: 'https://etcd-1:2379,https://etcd-2:2379',
    ETCD_CA: '/tls/ca.pem',
    ETCD_CERT: '/tls/registrar.pem',
    ETCD_KEY: '/tls/registrar-key.pem',
    ETCD_USERNAME: 'registrar-webapp',
    ETCD_PASSWORD: ' pass with spaces ',
  });
  t.deepEqual(o.tls, { caFile: '/tls/ca.pem', certFile: '/tls/registrar.pem', keyFile: '/tls/registrar-key.pem' });
  t.deepEqual(o.auth, { username: 'registrar-webapp', password: ' pass with spaces ' }, 'a password is taken as is');
  t.deepEqual(etcdOptionsFromEnv({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_CA: '/tls/ca.pem' }).tls, { caFile: '/tls/ca.pem' }, 'server TLS only');
});

test('etcd TLS and auth settings that cannot work are refused at start', (t) => {
  const refused = (env: Record<string, string>, message: RegExp) => t.throws(() => etcdOptionsFromEnv(env), { instanceOf: OptionError, message });
  refused({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_CERT: '/tls/c.pem' }, /ETCD_CERT and ETCD_KEY go together/);
  refused({ ETCD_ENDPOINTS: 'https://etcd:2379', ETCD_KEY: '/tls/k.pem' }, /ETCD_CERT and ETCD_KEY go together/);
  refused({ ETCD_ENDPOINTS: 'http://etcd:2379', ETCD_CA: '/tls/ca.pem' }, /need an https:\/\/ endpoint/);
  refused({ ETCD_USERNAME: 'registrar-webapp' }, /ETCD_USERNAME is set without ETCD_PASSWORD/);
  refused({ ETCD_PASSWORD: 'x' }, /ETCD_PASSWORD is set without ETCD_USERNAME/);
  refused({ ETCD_ENDPOINTS: 'ftp://etcd:2379' }, /not an http:\/\/ or https:\/\/ URL/);
  refused({ ETCD_ENDPOINTS: 'http://' }, /not an http/);
});

test('etcd endpoints accept host:port and URLs', (t) => {
  t.deepEqual(etcdOptionsFromEnv({ ETCD_ENDPOINTS: 'etcd:2379, https://e2:2379' }).endpoints, ['http://etcd:2379', 'https://e2:2379']);
});
