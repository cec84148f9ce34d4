import { readFileSync, writeFileSync } from 'node:fs';
import test from 'ava';
import { DEFAULT_TEMPLATE } from '../../renderer/options.js';
import { compileTemplate, hostport, render } from '../../renderer/render.js';
import { NodeView } from '../../renderer/view.js';
import { FIXTURE_SETTINGS, TEST_SRC, fixtureNames, loadFixture } from '../helpers/fixtures.js';

const template = compileTemplate(readFileSync(DEFAULT_TEMPLATE, 'utf8'));

/** Renders a fixture the way the renderer does: raw etcd values → validation → template. */
export function renderFixture(name: string): { text: string; rejected: string[] } {
  const view = new NodeView('/nodes/');
  view.reset(loadFixture(name));
  const { records, rejected } = view.evaluate();
  return { text: render(template, records, FIXTURE_SETTINGS), rejected: rejected.map((e) => e.key).sort() };
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
  t.regex(text, /server good 172\.20\.0\.3:3000/);
  t.notRegex(text, /evil|6\.6\.6\.6|a tag|70000|example\.com/);
  t.is(text.match(/^\s+server /gm)?.length, 1);
});

test('servers are sorted so equal sets render equal bytes', (t) => {
  const text = renderFixture('three-webapps').text;
  const ids = [...text.matchAll(/^\s+server (\S+)/gm)].map((m) => m[1]);
  t.deepEqual(ids, ['a1', 'b2', 'c3']);
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
  t.throws(() => render(bad, [], FIXTURE_SETTINGS), { name: 'RenderError' });
});
