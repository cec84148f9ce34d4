import test from 'ava';
import { EtcdRefusedError, EtcdUnavailableError, LeaseNotFoundError, LeaseholdError } from '../../common/errors.js';
import { Backoff, isRetryable } from '../../registrar/backoff.js';

test('backoff doubles from 200 ms up to 5 s with jitter in [d/2, d); an error that is not retryable waits the longest', (t) => {
  const retryable = new EtcdUnavailableError('down', 'http://e:2379');
  const low = new Backoff({ random: () => 0 });
  t.deepEqual(Array.from({ length: 7 }, () => low.next(retryable)), [100, 200, 400, 800, 1600, 2500, 2500]);
  const high = new Backoff({ random: () => 0.999999 });
  t.deepEqual(Array.from({ length: 3 }, () => high.next(retryable)), [200, 400, 800]);
  high.reset();
  t.is(high.next(retryable), 200);
  t.is(new Backoff({ random: () => 0 }).next(new EtcdRefusedError('permission denied', 403, 7)), 2500);
  t.is(new Backoff({ random: () => 0 }).next(new TypeError('a bug')), 2500, 'an unknown error is not retryable');
  t.false(isRetryable(new LeaseholdError('x')));
  t.true(isRetryable(new LeaseNotFoundError('1')));
});
