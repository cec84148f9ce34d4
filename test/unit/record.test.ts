import test from 'ava';
import { RecordError } from '../../common/errors.js';
import { formatRecord } from '../../common/record-format.js';
import { type NodeRecord, NodeRecordSchema, normalizePrefix, parseRecord, recordKey } from '../../common/record.js';

const good: NodeRecord = {
  id: 'a1', service: 'webapp', address: '172.20.0.3', port: 3000, tag: 'blue', weight: 100, state: 'up', registeredAt: '2026-11-22T00:00:00.000Z',
};
const key = '/nodes/webapp/a1';
const read = (value: unknown, k = key) => parseRecord('/nodes/', k, typeof value === 'string' ? value : JSON.stringify(value));
const parse = (value: unknown, k = key) => {
  const r = read(value, k);
  if (!r.ok) throw new Error(r.reason);
  return r.record;
};
/** What the renderer's schema lets through, in the registrar's bytes. */
const serializeRecord = (r: NodeRecord) => formatRecord(NodeRecordSchema.parse(r));

test('a valid record parses and survives a round trip', (t) => {
  t.deepEqual(parse(good), good);
  t.deepEqual(parse(serializeRecord(good)), good);
  t.deepEqual(parse({ ...good, address: 'fd00::1' }).address, 'fd00::1');
  t.is(parse({ ...good, state: 'draining' }).state, 'draining');
});

test('prefixes are normalized and keys built from them', (t) => {
  t.is(normalizePrefix('/nodes'), '/nodes/');
  t.is(normalizePrefix('/nodes//'), '/nodes/');
  t.is(recordKey('/nodes', 'webapp', 'a1'), key);
});

const rejections: [string, unknown, RegExp, string?][] = [
  ['not JSON', '{not json', /not JSON/],
  ['a JSON array', '[]', /value/],
  ['a hostname for address', { ...good, address: 'example.com' }, /address/],
  ['an address with config text', { ...good, address: '1.2.3.4 backup' }, /address/],
  ['port 0', { ...good, port: 0 }, /port/],
  ['port 65536', { ...good, port: 65536 }, /port/],
  ['a string port', { ...good, port: '3000' }, /port/],
  ['an id with a newline', { ...good, id: 'a1\nserver evil 6.6.6.6:80' }, /id/],
  ['an id with a space', { ...good, id: 'a 1' }, /id/],
  ['an id over 63 characters', { ...good, id: 'a'.repeat(64) }, /id/],
  ['a tag with config text', { ...good, tag: 'x check inter 1' }, /tag/],
  ['a tag with a newline', { ...good, tag: 'x\ny' }, /tag/],
  ['weight 257', { ...good, weight: 257 }, /weight/],
  ['an unknown state', { ...good, state: 'down' }, /state/],
  ['a missing field', { ...good, registeredAt: undefined }, /registeredAt/],
  ['a bad date', { ...good, registeredAt: 'yesterday' }, /registeredAt/],
  ['the wrong service for its key', { ...good, service: 'api' }, /service "api" does not match/],
  ['the wrong id for its key', { ...good, id: 'b2' }, /id "b2" does not match/],
  ['a key outside the prefix', good, /outside/, '/other/webapp/a1'],
  ['a key too deep', good, /key must be/, '/nodes/webapp/a1/extra'],
  ['a key with a bad service name', good, /key must be/, '/nodes/web app/a1'],
];

for (const [what, value, reason, k] of rejections) {
  test(`rejects ${what}, saying why`, (t) => {
    const r = read(value, k ?? key);
    t.false(r.ok);
    t.regex(!r.ok ? r.reason : '', reason);
  });
}

test('an unknown field is dropped and named, not refused (a newer registrar\'s)', (t) => {
  const r = read({ ...good, extra: 1 });
  t.deepEqual(r, { ok: true, record: good, unknownFields: ['extra'] });
});

test('the registrar zod-free formatRecord writes the same bytes as serializeRecord, keys in the documented order', (t) => {
  for (const r of [good, { ...good, address: 'fd00::1', state: 'draining' as const, weight: 0 }]) t.is(formatRecord(r), serializeRecord(r));
  t.is(
    formatRecord(good),
    '{"id":"a1","service":"webapp","address":"172.20.0.3","port":3000,"tag":"blue","weight":100,"state":"up","registeredAt":"2026-11-22T00:00:00.000Z"}',
  );
  t.is(formatRecord({ ...good, extra: 1 } as NodeRecord), formatRecord(good), 'only the record fields are written');
});

const unwritable: [string, Record<string, unknown>, RegExp][] = [
  ['an id with config text', { id: 'a1\nserver evil 6.6.6.6:80' }, /id/],
  ['a tag with a space', { tag: 'x check' }, /tag/],
  ['a hostname for address', { address: 'example.com' }, /address/],
  ['port 0', { port: 0 }, /port/],
  ['a fractional weight', { weight: 1.5 }, /weight/],
  ['an unknown state', { state: 'down' }, /state/],
  ['a bad date', { registeredAt: 'yesterday' }, /registeredAt/],
];
for (const [what, change, reason] of unwritable) {
  test(`formatRecord refuses ${what}, as the renderer would`, (t) => {
    const r = { ...good, ...change } as NodeRecord;
    t.throws(() => formatRecord(r, key), { instanceOf: RecordError, message: reason });
    t.false(read(r).ok);
  });
}
