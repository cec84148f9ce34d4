import test from 'ava';
import type { SlotView } from '../../common/status.js';
import { formatAge, formatEvent, formatEventJson, formatStatus, formatStatusJson, table, visibleLength } from '../../cli/format.js';
import { type RendererReply, type WatchEvent, buildStatus, readNode, readOperator } from '../../cli/report.js';

const NOW = Date.parse('2026-11-23T10:00:00.000Z');
const TTY = { tty: true, color: false };
const TTY_COLOR = { tty: true, color: true };
const PIPE = { tty: false, color: false };
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[/;

const node = (id: string, address: string, over: Record<string, unknown> = {}) =>
  readNode(
    '/nodes/',
    {
      key: `/nodes/webapp/${id}`,
      value: JSON.stringify({ id, service: 'webapp', address, port: 3000, tag: id, weight: 100, state: 'up', registeredAt: '2026-11-23T09:57:48.000Z', ...over }),
      lease: '7587869658328741900',
    },
    4,
  )!;
const slot = (s: string, id: string, status: string, sessions: number): SlotView => ({ slot: s, state: 'ready', node: id, address: '172.18.0.4', port: 3000, weight: 100, haproxy: { status, sessions, weight: 100 } });
const lb = (url: string, slots: SlotView[]): RendererReply => ({ url, status: { haproxyVersion: '3.0.11', etcd: 'connected', haproxy: 'reachable', backends: { webapp: slots }, slots: [{ service: 'webapp', used: slots.length, total: 16 }] } });

const report = (renderers: RendererReply[]) =>
  buildStatus({
    nodes: [node('3f2c9a1b7d10', '172.18.0.4'), node('8a04c1e2f3d9', '172.18.0.5')],
    operator: readOperator('/leasehold/', [
      { key: '/leasehold/drain/webapp/8a04c1e2f3d9', value: '{"at":"2026-11-23T09:59:00.000Z","by":"ops@box"}' },
      { key: '/leasehold/weight/webapp/8a04c1e2f3d9', value: '{"weight":0}' },
    ]),
    renderers,
    now: NOW,
  });

test('a table on a terminal: columns padded to the widest cell, two spaces apart, no trailing blanks', (t) => {
  const text = table(['A', 'LONGER'], [[{ text: 'wide cell' }, { text: 'x' }], [{ text: 'b' }, { text: 'yy' }]], TTY);
  t.is(text, ['A          LONGER', 'wide cell  x', 'b          yy'].join('\n'));
});

test('a table on a pipe: tab-separated, no padding, no colour even if asked', (t) => {
  const text = table(['A', 'B'], [[{ text: 'wide\tcell', style: 'bad' }, { text: 'x' }]], { tty: false, color: true });
  t.is(text, 'A\tB\nwide cell\tx', 'a tab inside a cell never splits it');
});

test('colour does not change alignment: widths count visible characters', (t) => {
  const text = table(['STATE', 'N'], [[{ text: 'UP', style: 'ok' }, { text: '1' }], [{ text: 'DRAIN', style: 'warn' }, { text: '2' }]], TTY_COLOR);
  t.regex(text, ANSI);
  const lines = text.split('\n');
  // eslint-disable-next-line no-control-regex
  const plain = lines.map((l) => l.replace(/\x1b\[[0-9;]*m/g, ''));
  t.deepEqual(plain, ['STATE  N', 'UP     1', 'DRAIN  2']);
  t.is(visibleLength(lines[1]!), 8);
  t.true(lines[1]!.startsWith('\x1b[32mUP\x1b[39m'), 'UP is green');
});

test('status on a terminal, one renderer: every column, aligned, with totals', (t) => {
  const text = formatStatus(report([lb('http://127.0.0.1:8405', [slot('s1', '3f2c9a1b7d10', 'UP', 4), slot('s2', '8a04c1e2f3d9', 'DRAIN', 1)])]), TTY);
  t.is(
    text,
    [
      'SERVICE  NODE          ADDRESS          SLOT  ETCD     HAPROXY  SESS  WEIGHT        TTL  AGE',
      'webapp   3f2c9a1b7d10  172.18.0.4:3000  s1    up       UP       4     100           4s   2m12s',
      'webapp   8a04c1e2f3d9  172.18.0.5:3000  s2    drained  DRAIN    1     0 (override)  4s   2m12s',
      '',
      'webapp: 2 nodes (1 up, 1 drained), 5 sessions, slots 2/16 used',
    ].join('\n'),
  );
  t.notRegex(text, ANSI, 'no colour unless asked');
});

test('status on a pipe: the same cells, tab-separated, and no colour', (t) => {
  const text = formatStatus(report([lb('http://127.0.0.1:8405', [slot('s1', '3f2c9a1b7d10', 'UP', 4), slot('s2', '8a04c1e2f3d9', 'DRAIN', 1)])]), PIPE);
  const lines = text.split('\n');
  t.is(lines[0], 'SERVICE\tNODE\tADDRESS\tSLOT\tETCD\tHAPROXY\tSESS\tWEIGHT\tTTL\tAGE');
  t.is(lines[2], 'webapp\t8a04c1e2f3d9\t172.18.0.5:3000\ts2\tdrained\tDRAIN\t1\t0 (override)\t4s\t2m12s');
  t.notRegex(text, ANSI);
});

test('status in colour: states coloured, the rest plain', (t) => {
  const text = formatStatus(report([lb('http://lb', [slot('s1', '3f2c9a1b7d10', 'DOWN', 0), slot('s2', '8a04c1e2f3d9', 'DRAIN', 1)])]), TTY_COLOR);
  t.true(text.includes('\x1b[31mDOWN\x1b[39m'), 'DOWN is red');
  t.true(text.includes('\x1b[33mDRAIN\x1b[39m'), 'DRAIN is yellow');
  t.true(text.includes('\x1b[33mdrained\x1b[39m'));
  t.true(text.includes('\x1b[1mSERVICE\x1b[22m'), 'bold header');
});

test('several renderers: one HAProxy column per LB, "LBs differ" where they disagree, a legend', (t) => {
  const text = formatStatus(
    report([lb('http://lb1:8405', [slot('s1', '3f2c9a1b7d10', 'UP', 4), slot('s2', '8a04c1e2f3d9', 'DRAIN', 0)]), lb('http://lb2:8405', [slot('s2', '3f2c9a1b7d10', 'UP', 1), slot('s1', '8a04c1e2f3d9', 'UP', 2)])]),
    TTY,
  );
  const lines = text.split('\n');
  t.is(lines[0], 'SERVICE  NODE          ADDRESS          SLOT   ETCD     LB1    LB2  SESS  WEIGHT        TTL  AGE    NOTE');
  t.is(lines[1], 'webapp   3f2c9a1b7d10  172.18.0.4:3000  s1|s2  up       UP     UP   5     100           4s   2m12s');
  t.is(lines[2], 'webapp   8a04c1e2f3d9  172.18.0.5:3000  s2|s1  drained  DRAIN  UP   2     0 (override)  4s   2m12s  LBs differ');
  t.true(lines.includes('webapp: 2 nodes (1 up, 1 drained), 7 sessions, slots LB1 2/16, LB2 2/16'));
  t.true(lines.includes('LB1: http://lb1:8405 (HAProxy 3.0.11)'));
  t.true(lines.includes('LB2: http://lb2:8405 (HAProxy 3.0.11)'));
  t.true(lines.includes('LB1, LB2 differ on 1 node: webapp/8a04c1e2f3d9'), 'a verdict line');
});

test('several renderers that run the same truth: the verdict says they agree (slot names may differ)', (t) => {
  const r = report([lb('http://lb1:8405', [slot('s1', '3f2c9a1b7d10', 'UP', 4), slot('s2', '8a04c1e2f3d9', 'DRAIN', 0)]), lb('http://lb2:8405', [slot('s2', '3f2c9a1b7d10', 'UP', 1), slot('s1', '8a04c1e2f3d9', 'DRAIN', 2)])]);
  t.deepEqual(r.lbsAgree, { agree: true, lbs: ['LB1', 'LB2'], differ: [] });
  t.true(formatStatus(r, TTY).split('\n').includes('LB1, LB2 agree: every node on each, in the same state'));
  t.deepEqual(JSON.parse(formatStatusJson(r)).lbsAgree, { agree: true, lbs: ['LB1', 'LB2'], differ: [] });
  t.is(report([lb('http://lb1:8405', [slot('s1', '3f2c9a1b7d10', 'UP', 4)])]).lbsAgree, undefined, 'one LB: no verdict');
});

test('several renderers: a slot still leaving on one LB is no disagreement; the same node at two addresses is', (t) => {
  const leaving = { ...slot('s2', '8a04c1e2f3d9', 'MAINT', 1), state: 'leaving' as const };
  const r = report([lb('http://lb1:8405', [slot('s1', '3f2c9a1b7d10', 'UP', 0), leaving]), lb('http://lb2:8405', [slot('s1', '3f2c9a1b7d10', 'UP', 0)])]);
  t.true(r.lbsAgree?.agree, 'a graceful leave whose keep-alive sessions finish on LB1 only');
  const moved = { ...slot('s1', '3f2c9a1b7d10', 'UP', 0), address: '172.18.0.99' };
  const d = report([lb('http://lb1:8405', [slot('s1', '3f2c9a1b7d10', 'UP', 0)]), lb('http://lb2:8405', [moved])]);
  t.deepEqual(d.lbsAgree?.differ, ['webapp/3f2c9a1b7d10'], 'LB2 sends the node\'s traffic elsewhere (a stuck watch)');
});

test('no renderer: etcd columns only, and the note', (t) => {
  const text = formatStatus(report([{ url: 'http://127.0.0.1:8405', error: 'connect ECONNREFUSED 127.0.0.1:8405' }]), TTY);
  const lines = text.split('\n');
  t.is(lines[0], 'SERVICE  NODE          ADDRESS          ETCD     WEIGHT        TTL  AGE');
  t.is(lines.at(-2), 'webapp: 2 nodes (1 up, 1 drained)');
  t.is(lines.at(-1), 'note: no renderer reachable (http://127.0.0.1:8405: connect ECONNREFUSED 127.0.0.1:8405): what etcd says only, no slots, HAProxy states or sessions');
});

test('no nodes at all says so', (t) => {
  const r = buildStatus({ nodes: [], operator: new Map(), renderers: [{ url: 'http://x', error: 'down' }], service: 'api', now: NOW });
  t.is(formatStatus(r, TTY).split('\n')[0], 'no nodes in service api');
});

test('--json: one document with renderers, nodes (stable field order) and backends', (t) => {
  const r = report([lb('http://lb1', [slot('s1', '3f2c9a1b7d10', 'UP', 4)])]);
  const json = JSON.parse(formatStatusJson(r));
  t.deepEqual(Object.keys(json), ['at', 'etcd', 'renderers', 'nodes', 'backends', 'notes']);
  t.deepEqual(Object.keys(json.nodes[0]), ['service', 'id', 'address', 'port', 'etcd', 'operator', 'weight', 'lbs', 'sessions', 'disagree', 'notes']);
  t.deepEqual(json.nodes[0], {
    service: 'webapp',
    id: '3f2c9a1b7d10',
    address: '172.18.0.4',
    port: 3000,
    etcd: { registered: true, lease: '694d874082a6380c', ttl: 4, state: 'up', registeredAt: '2026-11-23T09:57:48.000Z', ageSeconds: 132 },
    operator: { drained: false, invalid: [] },
    weight: { registrar: 100, effective: 100 },
    lbs: [{ lb: 'LB1', renderer: 'http://lb1', slot: 's1', state: 'ready', target: '172.18.0.4:3000', haproxy: { status: 'UP', sessions: 4, weight: 100 } }],
    sessions: 4,
    disagree: false,
    notes: [],
  });
  t.like(json.nodes[1], { id: '8a04c1e2f3d9', operator: { drained: true, drainedBy: 'ops@box' }, weight: { registrar: 100, override: 0, effective: 0 }, lbs: [{ lb: 'LB1' }] });
  t.deepEqual(json.renderers, [{ lb: 'LB1', url: 'http://lb1', reachable: true, haproxyVersion: '3.0.11', etcd: 'connected' }]);
});

test('ages', (t) => {
  t.is(formatAge(0), '0s');
  t.is(formatAge(59.9), '59s');
  t.is(formatAge(60), '1m00s');
  t.is(formatAge(3599), '59m59s');
  t.is(formatAge(3600 * 2 + 5 * 60), '2h05m');
  t.is(formatAge(86400 * 4 + 3 * 3600), '4d03h');
  t.is(formatAge(-5), '0s');
});

test('watch lines: one per event, time from the event, LB label when several', (t) => {
  const o = { color: false, now: NOW };
  const time = '2026-11-23T10:01:02.345Z';
  t.is(
    formatEvent({ time, event: 'node', change: 'joined', service: 'webapp', id: 'a', address: '172.18.0.4', port: 3000, weight: 100, state: 'up', slot: 's3' }, o),
    '10:01:02.345  joined     webapp/a  172.18.0.4:3000  slot s3  weight 100',
  );
  t.is(formatEvent({ time, event: 'node', change: 'left', service: 'webapp', id: 'a', address: 'fd00::4', port: 3000, weight: 100, state: 'up', slot: 's3' }, o), '10:01:02.345  left       webapp/a  [fd00::4]:3000  slot s3');
  t.is(formatEvent({ time, event: 'node', change: 'changed', service: 'webapp', id: 'a', address: '172.18.0.4', port: 3000, weight: 5, state: 'draining', slot: 's3' }, o), '10:01:02.345  changed    webapp/a  172.18.0.4:3000  slot s3  weight 5  draining');
  t.is(formatEvent({ time, event: 'operator', change: 'drained', service: 'webapp', id: 'a' }, o), '10:01:02.345  drained    webapp/a');
  t.is(formatEvent({ time, event: 'operator', change: 'undrained', service: 'webapp', id: 'a' }, o), '10:01:02.345  undrained  webapp/a');
  t.is(formatEvent({ time, event: 'operator', change: 'weight', service: 'webapp', id: 'a', weight: 0 }, o), '10:01:02.345  weight     webapp/a  0');
  t.is(formatEvent({ time, event: 'operator', change: 'weight-reset', service: 'webapp', id: 'a' }, o), "10:01:02.345  weight     webapp/a  reset (the registrar's weight applies)");
  t.is(formatEvent({ time, event: 'drift', backend: 'webapp', server: 's3', node: 'webapp/a', fields: ['weight', 'state'] }, o), '10:01:02.345  drift      webapp/s3 (webapp/a)  repaired: weight, state');
  t.is(formatEvent({ time, event: 'reload', cause: 'pool', workerPid: 42, slots: 64, durationMs: 35 }, o), '10:01:02.345  reload     cause pool  worker 42  64 slots  35 ms');
  t.is(formatEvent({ time, event: 'reload', cause: 'config' }, { ...o, label: 'LB2' }), '10:01:02.345  reload     cause config  [LB2]');
  t.is(formatEvent({ time, event: 'something-new', x: 1 }, o), '10:01:02.345  something-new  {"x":1}', 'a newer renderer\'s event is shown, not dropped');
  t.is(formatEvent({ event: 'operator', change: 'drained', service: 'webapp', id: 'a' }, o), '10:00:00.000  drained    webapp/a', 'no time: now');
  t.is(formatEvent({ time: '2026-11-23T10:01:02Z', event: 'operator', change: 'drained', service: 'webapp', id: 'a' }, o), '10:01:02.000  drained    webapp/a', 'a time without ms');
  const coloured = formatEvent({ time, event: 'node', change: 'joined', service: 'webapp', id: 'a', address: '172.18.0.4', port: 3000 }, { ...o, color: true });
  t.true(coloured.includes('\x1b[32mjoined   \x1b[39m'));
});

// A hostile webapp container writes what it likes into its record; a renderer relays what it
// was sent. None of it may act on the operator's terminal: erase a line (ESC [2K), move up
// (ESC [1A), open a one-character CSI (U+009B), or reverse what follows (U+202E).
const HOSTILE = '\x1b[2K\x1b[1A\u009b\u202e';
const RAW_HOSTILE = ['\x1b[2K', '\x1b[1A', '\u009b', '\u202e'];
/** Control and bidi characters in `text` besides the line breaks and tabs the CLI lays out with. */
const unsafe = (text: string) => [...text].filter((c) => /[\p{Cc}\p{Bidi_Control}]/u.test(c) && c !== '\n' && c !== '\t');

function hostileReport(): ReturnType<typeof buildStatus> {
  const evil = readNode('/nodes/', {
    key: '/nodes/webapp/evil',
    // The state is refused, and zod's message quotes what it received.
    value: JSON.stringify({ id: 'evil', service: 'webapp', address: '172.18.0.9', port: 3000, tag: `t${HOSTILE}`, weight: 1, state: `up${HOSTILE}`, registeredAt: '2026-11-23T09:57:48.000Z' }),
    lease: '7587869658328741900',
  }, 4)!;
  const relayed: SlotView = { slot: `s2${HOSTILE}`, state: 'ready', node: `ghost${HOSTILE}`, address: `172.18.0.8${HOSTILE}`, port: 3000, weight: 1, haproxy: { status: `UP${HOSTILE}`, sessions: 0, weight: 1 } };
  const one = lb('http://lb1', [slot('s1', '3f2c9a1b7d10', 'UP', 1), relayed]);
  one.status!.haproxyVersion = `3.0${HOSTILE}`;
  return buildStatus({
    nodes: [node('3f2c9a1b7d10', '172.18.0.4'), evil],
    operator: new Map(),
    renderers: [one, { url: 'http://lb2', error: `refused${HOSTILE} forged\r\nwebapp  forged  row` }, lb('http://lb3', [])],
    now: NOW,
  });
}

test('status shows a hostile record and relayed values escaped: no control or bidi character it did not write', (t) => {
  const r = hostileReport();
  t.true(r.nodes.some((n) => n.etcd.invalid?.includes('\x1b[2K')), 'the reason quotes the raw value: the report holds it as read');
  for (const look of [TTY, PIPE, TTY_COLOR]) {
    const text = formatStatus(r, look);
    for (const raw of RAW_HOSTILE) t.false(text.includes(raw), `${JSON.stringify(look)}: no raw ${JSON.stringify(raw)}`);
    t.regex(text, /ghost\\x1b\[2K\\x1b\[1A\\x9b\\u202e/, 'the id, escaped where one can read it');
    t.regex(text, /172\.18\.0\.8\\x1b\[2K/, 'the address');
    t.regex(text, /received 'up\\x1b\[2K\\x1b\[1A\\x9b\\u202e'/, "the reason (zod's message)");
    t.regex(text, /refused\\x1b\[2K/, 'an unreachable renderer\'s error');
    t.regex(text, /\(HAProxy 3\.0\\x1b\[2K/, 'a renderer\'s HAProxy version');
    if (!look.color) t.deepEqual(unsafe(text), [], `${JSON.stringify(look)}: nothing but line breaks and tabs`);
  }
  // In colour, the escapes left are the CLI's own colours, whole.
  // eslint-disable-next-line no-control-regex
  t.deepEqual(unsafe(formatStatus(r, TTY_COLOR).replace(/\x1b\[(?:1|2|22|31|32|33|39)m/g, '')), []);
});

test('an escaped value neither splits nor adds a row: one row per node, as many cells as the header, one line per note', (t) => {
  const r = hostileReport();
  const pipe = formatStatus(r, PIPE).split('\n');
  const rows = pipe.slice(0, pipe.indexOf(''));
  t.is(rows.length, 1 + 3, 'the header and three nodes');
  t.true(rows.every((l) => l.split('\t').length === rows[0]!.split('\t').length), 'no cell split');
  const tty = formatStatus(r, TTY).split('\n');
  t.is(tty.indexOf(''), 1 + 3);
  t.is(tty.filter((l) => l.startsWith('note: ')).length, r.notes.length, 'every note on one line');
  t.true(tty.some((l) => l.includes('forged\\r\\nwebapp')), "the renderer's error with its line break escaped");
});

test('--json escapes what JSON.stringify leaves raw (DEL, C1, bidi) and parses back to the same report', (t) => {
  const r = hostileReport();
  const json = formatStatusJson(r);
  t.deepEqual(unsafe(json), []);
  t.true(json.includes('\\u009b') && json.includes('\\u202e') && json.includes('\\u001b[2K'));
  t.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(r)), 'the same values: only their spelling changed');
});

test('watch lines show hostile fields escaped, in every kind of event', (t) => {
  const o = { color: false, now: NOW, label: 'LB1' };
  const time = '2026-11-23T10:01:02.345Z';
  const events: WatchEvent[] = [
    { time, event: 'node', change: 'joined', service: 'webapp', id: `a${HOSTILE}`, address: `172.18.0.4${HOSTILE}`, port: 3000, weight: 1, state: `up${HOSTILE}`, slot: `s1${HOSTILE}` },
    { time, event: 'node', change: `left${HOSTILE}`, service: 'webapp', id: 'a' },
    { time, event: 'operator', change: 'weight', service: 'webapp', id: `a${HOSTILE}`, weight: 3 },
    { time, event: 'drift', backend: `webapp${HOSTILE}`, server: 's1', node: `webapp/a${HOSTILE}`, fields: [`weight${HOSTILE}`] },
    { time, event: 'reload', cause: `pool${HOSTILE}`, workerPid: 42 },
    { time, event: 'invalid', key: `/nodes/webapp/x${HOSTILE}`, reason: `state Invalid enum value, received 'up${HOSTILE}'` },
    { time, event: `new${HOSTILE}`, tag: `t${HOSTILE}` },
  ];
  for (const e of events) {
    for (const color of [false, true]) {
      const line = formatEvent(e, { ...o, color });
      for (const raw of RAW_HOSTILE) t.false(line.includes(raw), `${e.event}: no raw ${JSON.stringify(raw)} in ${JSON.stringify(line)}`);
      t.false(line.includes('\n'), 'one line');
      // eslint-disable-next-line no-control-regex
      t.deepEqual(unsafe(color ? line.replace(/\x1b\[(?:1|2|22|31|32|33|39)m/g, '') : line), [], JSON.stringify(line));
    }
  }
  t.is(formatEvent(events[0]!, o), '10:01:02.345  joined     webapp/a\\x1b[2K\\x1b[1A\\x9b\\u202e  172.18.0.4\\x1b[2K\\x1b[1A\\x9b\\u202e:3000  slot s1\\x1b[2K\\x1b[1A\\x9b\\u202e  weight 1  up\\x1b[2K\\x1b[1A\\x9b\\u202e  [LB1]');
});

test('watch --json lines escape what JSON.stringify leaves raw and parse back to the event', (t) => {
  const e: WatchEvent = { time: '2026-11-23T10:01:02.345Z', event: 'invalid', key: `/nodes/webapp/x${HOSTILE}`, reason: `received 'up${HOSTILE}'` };
  const line = formatEventJson(e, { renderer: 'http://lb1' });
  t.deepEqual(unsafe(line), []);
  t.false(line.includes('\n'));
  t.deepEqual(JSON.parse(line), { ...e, renderer: 'http://lb1' });
  t.deepEqual(JSON.parse(formatEventJson(e, {})), { ...e, source: 'etcd' });
});
