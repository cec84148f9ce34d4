import { readFileSync, writeFileSync } from 'node:fs';
import test from 'ava';
import { DEFAULT_TEMPLATE } from '../../renderer/options.js';
import { compileTemplate, hostport, render, structureId } from '../../renderer/render.js';
import { SlotTable } from '../../renderer/slots.js';
import { NodeView } from '../../renderer/node-view.js';
import { FIXTURE_RULES, FIXTURE_SETTINGS, TEST_SRC, fixtureNames, loadFixture } from '../helpers/fixtures.js';

const template = compileTemplate(readFileSync(DEFAULT_TEMPLATE, 'utf8'));

/** Renders a fixture the way the renderer does: raw etcd values → validation → slots → template. */
export function renderFixture(name: string, minSlots = 4): { text: string; rejected: string[] } {
  const view = new NodeView('/nodes/', FIXTURE_RULES);
  view.reset(loadFixture(name));
  const { records, rejected } = view.evaluate();
  const slots = new SlotTable({ defaultService: 'webapp', minSlots, shrinkAfterMs: 60000 });
  slots.plan([...records.values()], 0);
  const id = structureId(template, FIXTURE_SETTINGS, slots.structure());
  return { text: render(template, slots.all(), FIXTURE_SETTINGS, id), rejected: rejected.map((e) => e.key).sort() };
}

for (const name of fixtureNames()) {
  test(`fixture ${name} renders to expected/${name}.cfg`, (t) => {
    const { text } = renderFixture(name);
    const path = `${TEST_SRC}expected/${name}.cfg`;
    if (process.env.UPDATE_EXPECTED === '1') writeFileSync(path, text);
    t.is(text, readFileSync(path, 'utf8'));
  });
}

test('invalid records are left out and every one is reported by key', (t) => {
  const { text, rejected } = renderFixture('invalid-mixed');
  t.deepEqual(rejected, ['/nodes/webapp/badaddr', '/nodes/webapp/badport', '/nodes/webapp/inject', '/nodes/webapp/notjson', '/nodes/webapp/spacetag', '/nodes/webapp/wrongsvc']);
  t.regex(text, /server s1 172\.20\.0\.3:3000 weight 100 {2}# webapp\/good$/m);
  t.notRegex(text, /evil|6\.6\.6\.6|a tag|70000|example\.com/);
  t.is(text.match(/^\s+server s\d+ [^ ]+ weight \d+ +#/gm)?.length, 1, 'one server with a node');
});

test('nodes take slots in id order; every other slot is disabled', (t) => {
  const text = renderFixture('three-webapps').text;
  const servers = [...text.matchAll(/^\s+server (s\d+) (\S+) weight \d+( disabled)?(?: +# (\S+))?$/gm)].map((m) => `${m[1]}=${m[4] ?? (m[3] ? 'free' : '?')}`);
  t.deepEqual(servers, ['s1=webapp/a1', 's2=webapp/b2', 's3=webapp/c3', 's4=free']);
});

test('the structure id ignores which node sits where, and follows pool sizes and settings', (t) => {
  const a = new SlotTable({ defaultService: 'webapp', minSlots: 4, shrinkAfterMs: 60000 });
  a.plan([], 0);
  const id0 = structureId(template, FIXTURE_SETTINGS, a.structure());
  const rec = (id: string) => ({ id, service: 'webapp', address: '10.0.0.1', port: id.charCodeAt(0), tag: id, weight: 1, state: 'up' as const, registeredAt: '2026-01-01T00:00:00Z' });
  a.plan([rec('x'), rec('y')], 0);
  t.is(structureId(template, FIXTURE_SETTINGS, a.structure()), id0, 'membership leaves the id alone');
  a.plan(['a', 'b', 'c', 'd', 'e'].map(rec), 0);
  t.not(structureId(template, FIXTURE_SETTINGS, a.structure()), id0, 'a grown pool is a new structure');
  t.not(structureId(template, { ...FIXTURE_SETTINGS, cookieKey: 'another-key' }, a.structure()), structureId(template, FIXTURE_SETTINGS, a.structure()));
});

test('IPv6 addresses are bracketed, IPv4 are not', (t) => {
  t.is(hostport('fd00::12', 8080), '[fd00::12]:8080');
  t.is(hostport('10.0.0.7', 80), '10.0.0.7:80');
});

test('the default service has a backend even with no nodes', (t) => {
  t.regex(renderFixture('empty').text, /^backend webapp$/m);
});

test('a template that references an unknown field fails as a RenderError', (t) => {
  const bad = compileTemplate('{{nosuchfield}}');
  t.throws(() => render(bad, [], FIXTURE_SETTINGS, 'x'), { name: 'RenderError' });
});

test('HEALTH_CHECK_PATHS gives a service its own check path; the others keep HEALTH_CHECK_PATH; a bad entry is refused', async (t) => {
  const { rendererOptionsFromEnv } = await import('../../renderer/options.js');
  const o = rendererOptionsFromEnv({ HEALTH_CHECK_PATHS: 'static=/index.html' });
  t.deepEqual(o.healthCheckPaths, [{ service: 'static', path: '/index.html' }]);
  for (const bad of ['static', 'static=index.html', 'st atic=/x', 'static=/a b']) t.throws(() => rendererOptionsFromEnv({ HEALTH_CHECK_PATHS: bad }), { message: /HEALTH_CHECK_PATHS/ });
  const slots = new SlotTable({ defaultService: 'webapp', minSlots: 4, shrinkAfterMs: 60000 });
  slots.plan([{ id: 'a', service: 'static', address: '10.0.0.1', port: 8080, tag: 'a', weight: 1, state: 'up', registeredAt: '2026-01-01T00:00:00Z' }], 0);
  const s = { ...FIXTURE_SETTINGS, healthCheckPaths: o.healthCheckPaths };
  const text = render(template, slots.all(), s, structureId(template, s, slots.structure()));
  t.regex(text, /backend static\n(?:.*\n)*?\s+option httpchk GET \/index\.html\n/);
  t.regex(text, /backend webapp\n(?:.*\n)*?\s+option httpchk GET \/health\n/);
  t.not(structureId(template, s, slots.structure()), structureId(template, FIXTURE_SETTINGS, slots.structure()), 'another check path is another structure');
});
