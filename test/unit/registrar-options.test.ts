import test from 'ava';
import { OptionError } from '../../common/errors.js';
import { registrarOptionsFromEnv } from '../../registrar/options.js';

test('registrar options have documented defaults', (t) => {
  const o = registrarOptionsFromEnv({}, 'host-1');
  t.is(o.address, undefined, 'looked up at each registration');
  t.like(o, { prefix: '/nodes/', service: 'webapp', nodeId: 'host-1', port: 3000, tag: 'host-1', weight: 100, ttlSeconds: 5, healthUrl: 'http://127.0.0.1:3000/health', checkIntervalMs: 1000, checkTimeoutMs: 2000, checkFall: 3, checkRise: 2, waitCheckIntervalMs: 25, healthPort: 3001, logLevel: 'info' });
  t.deepEqual(o.etcd, { endpoints: ['http://127.0.0.1:2379'], callTimeoutMs: 2000, dialTimeoutMs: 2000 }, 'no TLS, no auth');
});

test('registrar options refuse what cannot be registered', (t) => {
  t.throws(() => registrarOptionsFromEnv({ LEASE_TTL: '1' }, 'h'), { instanceOf: OptionError, message: /LEASE_TTL/ });
  t.throws(() => registrarOptionsFromEnv({ NODE_ID: 'bad id' }, 'h'), { instanceOf: OptionError, message: /NODE_ID/ });
  t.throws(() => registrarOptionsFromEnv({ ADVERTISE_ADDRESS: 'web' }, 'h'), { instanceOf: OptionError, message: /ADVERTISE_ADDRESS/ });
  t.throws(() => registrarOptionsFromEnv({ PORT: '70000' }, 'h'), { instanceOf: OptionError, message: /PORT/ });
  t.throws(() => registrarOptionsFromEnv({ WAIT_CHECK_INTERVAL_MS: '0' }, 'h'), { instanceOf: OptionError, message: /WAIT_CHECK_INTERVAL_MS/ });
  for (const name of ['CHECK_TIMEOUT_MS', 'CHECK_FALL', 'CHECK_RISE']) t.throws(() => registrarOptionsFromEnv({ [name]: '0' }, 'h'), { instanceOf: OptionError, message: new RegExp(name) });
  t.throws(() => registrarOptionsFromEnv({ LOG_LEVEL: 'verbose' }, 'h'), { instanceOf: OptionError, message: /LOG_LEVEL/ });
});
