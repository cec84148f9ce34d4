import test from 'ava';
import fc from 'fast-check';
import { OWN_SEQUENCES } from '../../cli/format.js';
import { printable, printableFields, printableJson, printableText } from '../../cli/printable.js';

/** Every character a terminal would act on, as the CLI defines it. */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}]/u;
const BIDI = ['\u061c', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];
/** Any string, lone surrogates and every control included. */
const anyText = fc.string({ unit: 'binary', maxLength: 40 });

test('a value is shown with every control and bidi character escaped, by its code', (t) => {
  t.is(printable('a\x1b[2K\x1b[1Ab'), 'a\\x1b[2K\\x1b[1Ab', 'ESC: the sequence is left as text');
  t.is(printable('\x00\x07\x7f\x80\x9b\x9f'), '\\x00\\x07\\x7f\\x80\\x9b\\x9f', 'C0, DEL, C1');
  t.is(printable('a\tb\nc\rd'), 'a\\tb\\nc\\rd', 'a value is one cell on one line');
  t.is(printable(BIDI.join('')), '\\u061c\\u200e\\u200f\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069');
  t.is(printable('webapp-1 café 中 ✓ \\x1b'), 'webapp-1 café 中 ✓ \\x1b', 'anything else as it is, a backslash too');
});

test('printable leaves nothing unsafe, and twice is once', (t) => {
  fc.assert(
    fc.property(anyText, (s) => {
      const p = printable(s);
      return !UNSAFE.test(p) && printable(p) === p;
    }),
  );
  t.pass();
});

test('printableFields escapes every string in a value, keys included, and leaves the value itself alone', (t) => {
  const value = { id: 'a\x1b[2K', n: 3, ok: true, none: null, list: ['\u202e', { ['k\u009b']: 'v\n' }], missing: undefined };
  const before = structuredClone(value);
  t.deepEqual(printableFields(value), { id: 'a\\x1b[2K', n: 3, ok: true, none: null, list: ['\\u202e', { 'k\\x9b': 'v\\n' }], missing: undefined });
  t.deepEqual(value, before, 'a copy');
});

test('the output boundary keeps its own line breaks and tabs, and only the colours it is told to keep', (t) => {
  t.is(printableText('a\tb\nc\x1b[2K\rd\u202e'), 'a\tb\nc\\x1b[2K\\rd\\u202e');
  const green = '\x1b[32mUP\x1b[39m';
  t.is(printableText(green, OWN_SEQUENCES), green, 'a colour the CLI painted');
  t.is(printableText(green), '\\x1b[32mUP\\x1b[39m', 'no colour: no escape sequence at all');
  t.is(printableText('\x1b[32m\x1b[2K\x1b]0;title\x07\x1b[8m', OWN_SEQUENCES), '\x1b[32m\\x1b[2K\\x1b]0;title\\x07\\x1b[8m', 'an erase, a title, a concealment: escaped');
  fc.assert(
    fc.property(anyText, (s) => {
      const p = printableText(s, OWN_SEQUENCES);
      const left = OWN_SEQUENCES.reduce((x, seq) => x.replaceAll(seq, ''), p);
      return [...left].every((c) => c === '\n' || c === '\t' || !UNSAFE.test(c));
    }),
  );
});

test('JSON: DEL, C1 and bidi escaped as \\u, so no unsafe character is raw, and it parses back to the same value', (t) => {
  const value = { id: 'a\x1b[2K', reason: 'x\u009b\u202e\x7f', [`k\u2066`]: ['\n'] };
  t.is(printableJson(value), '{"id":"a\\u001b[2K","reason":"x\\u009b\\u202e\\u007f","k\\u2066":["\\n"]}');
  const indented = printableJson(value, 2);
  t.deepEqual(JSON.parse(indented), value);
  t.true(indented.includes('\n  "id"'), 'the indent is kept');
  fc.assert(
    fc.property(fc.dictionary(anyText, anyText, { maxKeys: 4 }), (d) => {
      const j = printableJson(d, 2);
      return [...j].every((c) => c === '\n' || !UNSAFE.test(c)) && JSON.stringify(JSON.parse(j)) === JSON.stringify(d);
    }),
  );
  t.pass();
});
