import test from 'ava';
import { splitAnswers } from '../../renderer/runtime.js';

test('an interactive session splits into one answer per command', (t) => {
  const out = '\n> 1\n# be_id\n3 webapp 1 s1\n\n> \n> No such server.\n\n> ';
  t.deepEqual(splitAnswers(out, 3), ['1\n# be_id\n3 webapp 1 s1', '', 'No such server.']);
  t.is(splitAnswers('\n> \n', 3), undefined, 'cut short');
});
