import test from 'ava';
import { createLineLog } from '../../common/line-log.js';

test('the registrar line log writes pino\'s line shape, errors as {type, message}, below its level nothing', (t) => {
  const lines: string[] = [];
  const log = createLineLog('registrar', 'info', (l) => lines.push(l));
  log.debug({ event: 'x' }, 'hidden');
  log.warn({ event: 'retry', err: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }, 'registration attempt failed');
  t.is(lines.length, 1);
  t.true(lines[0]!.endsWith('\n'));
  const e = JSON.parse(lines[0]!);
  t.deepEqual(Object.keys(e), ['level', 'time', 'name', 'event', 'err', 'msg']);
  t.like(e, { level: 'warn', name: 'registrar', event: 'retry', err: { type: 'Error', message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' }, msg: 'registration attempt failed' });
  t.false(Number.isNaN(Date.parse(e.time)));
  createLineLog('registrar', 'silent', (l) => lines.push(l)).fatal({}, 'x');
  t.is(lines.length, 1);
});
