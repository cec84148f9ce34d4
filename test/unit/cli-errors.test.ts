import test from 'ava';
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError, GRPCDeadlineExceededError, GRPCUnavailableError } from 'etcd3';
import { OptionError, StoreError } from '../../common/errors.js';
import { EtcdUnreachableError, PermissionError, RendererUnreachableError, UnknownNodeError, UsageError, WaitTimeoutError, exitCodeOf, shortGrpcMessage } from '../../cli/errors.js';
import { etcdFailure } from '../../cli/store.js';

const EP = ['http://etcd:2379'];

test('etcd failures come out typed: unreachable, no permission, anything else', (t) => {
  const unreachable = etcdFailure(new GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 10.0.0.2:2379. Resolution note: '), 'read /nodes/', EP);
  t.true(unreachable instanceof EtcdUnreachableError);
  t.is(unreachable.message, 'etcd unreachable at http://etcd:2379 (connect ECONNREFUSED 10.0.0.2:2379)');
  t.true(etcdFailure(new GRPCDeadlineExceededError('4 DEADLINE_EXCEEDED: Deadline exceeded'), 'x', EP) instanceof EtcdUnreachableError);
  const denied = etcdFailure(new EtcdPermissionDeniedError('etcdserver: permission denied'), 'write /leasehold/drain/webapp/a', EP);
  t.true(denied instanceof PermissionError);
  t.regex(denied.message, /^no permission to write \/leasehold\/drain\/webapp\/a \(etcdserver: permission denied\): the operator role/);
  t.true(etcdFailure(new EtcdAuthenticationFailedError('etcdserver: authentication failed, invalid user ID or password'), 'x', EP) instanceof PermissionError);
  const other = etcdFailure(new Error('etcdserver: request is too large'), 'write k', EP);
  t.true(other instanceof StoreError);
  t.is(other.message, 'etcd: write k failed: etcdserver: request is too large');
});

test('exit codes, as `leasehold --help` documents them', (t) => {
  t.is(exitCodeOf(new UsageError('x')), 2);
  t.is(exitCodeOf(new OptionError('x')), 2);
  t.is(exitCodeOf(new EtcdUnreachableError(EP)), 3);
  t.is(exitCodeOf(new PermissionError('write k')), 4);
  t.is(exitCodeOf(new UnknownNodeError('webapp/x', [])), 5);
  t.is(exitCodeOf(new WaitTimeoutError('late')), 6);
  t.is(exitCodeOf(new RendererUnreachableError('none')), 1);
  t.is(exitCodeOf(new Error('anything')), 1);
});

test('unknown node: names what the service has, and the way out', (t) => {
  t.is(new UnknownNodeError('webapp/x', ['a', 'b']).message, 'unknown node webapp/x: no record under the nodes prefix; registered in that service: a, b (--force writes the key anyway)');
  t.is(new UnknownNodeError('api/x', []).message, 'unknown node api/x: no record under the nodes prefix (--force writes the key anyway)');
  t.regex(new UnknownNodeError('w/x', Array.from({ length: 12 }, (_, i) => `n${i}`)).message, /n9, \.\.\. \(/);
});

test('gRPC messages are cut to their cause', (t) => {
  t.is(shortGrpcMessage('14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: '), 'connect ECONNREFUSED 127.0.0.1:2379');
  t.is(shortGrpcMessage('4 DEADLINE_EXCEEDED: Deadline exceeded'), '4 DEADLINE_EXCEEDED: Deadline exceeded');
});
