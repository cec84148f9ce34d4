import test from 'ava';
import { parseShowProc } from '../../renderer/haproxy.js';

test('show proc output is parsed: reloads, failures, workers', (t) => {
  const text = [
    '#<PID>          <type>          <reloads>       <uptime>        <version>      ',
    '10091           master          2 [failed: 1]   0d00h00m02s     2.6.12-1+deb12u4',
    '# workers',
    '10120           worker          0               0d00h00m00s     2.6.12-1+deb12u4',
    '10103           worker          1               0d00h00m01s     2.6.12-1+deb12u4',
    '# programs',
    '',
  ].join('\n');
  t.deepEqual(parseShowProc(text), { masterPid: 10091, reloads: 2, failed: 1, workers: [{ pid: 10120, reloads: 0 }, { pid: 10103, reloads: 1 }] });
  t.throws(() => parseShowProc('Unknown command'), { name: 'ReloadError' });
});
