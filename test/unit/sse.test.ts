import test from 'ava';
import { SSE_HEARTBEAT, sseMessage } from '../../common/sse.js';

/** What a browser's EventSource makes of a stream: each message's data (WHATWG's parsing, cut to data lines). */
function parse(stream: string): string[] {
  const out: string[] = [];
  for (const block of stream.split(/\r\n\r\n|\r\r|\n\n/)) {
    const data = block.split(/\r\n|\r|\n/).filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, ''));
    if (data.length) out.push(data.join('\n'));
  }
  return out;
}

test('one event is one message whose data is the text as it was', (t) => {
  const json = JSON.stringify({ event: 'node', id: 'n1', note: 'a\nb' });
  t.is(sseMessage(json), `data: ${json}\n\n`);
  t.deepEqual(parse(sseMessage(json)), [json]);
});

test('line breaks in the text neither end the message nor forge a field', (t) => {
  for (const text of ['a\n\nevent: x\ndata: forged', 'a\r\rid: 9', 'a\r\n\r\nretry: 1', '\n', '']) {
    const frame = sseMessage(text);
    t.deepEqual(parse(frame), [text.replace(/\r\n|\r/g, '\n')], JSON.stringify(text));
    t.true(frame.split(/\r\n|\r|\n/).slice(0, -2).every((l) => l.startsWith('data: ')), 'every line a data line');
  }
});

test('the heartbeat is a comment: no message', (t) => {
  t.deepEqual(parse(SSE_HEARTBEAT + sseMessage('x')), ['x']);
});
