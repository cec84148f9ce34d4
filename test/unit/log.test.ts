// A record's key or value reaches log lines (a rejection names its key and reason): what a
// terminal would act on is escaped, and each line is still the same JSON.
import test from 'ava';
import { createLineLog } from '../../common/line-log.js';
import { createLogger } from '../../common/log.js';

const HOSTILE = 'web\u009b2J\u202eevil\u2066x\u007f\u001b[31m';

for (const [name, make] of [
  ['registrar (line log)', (lines: string[]) => createLineLog('t', 'info', (l) => void lines.push(l)).warn],
  ['renderer (pino)', (lines: string[]) => { const log = createLogger('t', 'info', { write: (l: string) => void lines.push(l) }); return log.warn.bind(log); }],
] as const) {
  test(`${name}: C1, bidi, DEL and ESC in a field are escaped; the line parses back to the same value`, (t) => {
    const lines: string[] = [];
    make(lines)({ key: `/nodes/${HOSTILE}/x` }, `rejected ${HOSTILE}`);
    t.is(lines.length, 1);
    t.notRegex(lines[0]!.replace(/\n$/, ''), /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/u, 'nothing a terminal acts on, raw');
    const back = JSON.parse(lines[0]!);
    t.is(back.key, `/nodes/${HOSTILE}/x`);
    t.is(back.msg, `rejected ${HOSTILE}`);
  });
}
