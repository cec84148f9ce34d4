// The config writer's outcomes: applied, unchanged, refused, quarantined. It returns what
// happened and calls nothing back; here against the real config files and a fake HAProxy.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import type { NodeRecord } from '../../common/record.js';
import { ConfigFiles } from '../../renderer/config-files.js';
import { ConfigWriter } from '../../renderer/config-writer.js';
import { DEFAULT_TEMPLATE } from '../../renderer/options.js';
import { compileTemplate, structureId } from '../../renderer/render.js';
import { SlotTable } from '../../renderer/slots.js';
import { FakeHaproxy } from '../helpers/fake-haproxy.js';
import { FIXTURE_SETTINGS } from '../helpers/fixtures.js';

const template = compileTemplate(readFileSync(DEFAULT_TEMPLATE, 'utf8'));
const slotOptions = { defaultService: 'webapp', minSlots: 4, shrinkAfterMs: 60000 };
const node = (id: string, address: string): NodeRecord => ({ id, service: 'webapp', address, port: 3000, tag: 'v1', weight: 100, state: 'up', registeredAt: '2026-11-22T00:00:00.000Z' });

function setup(t: ExecutionContext, refusalMemoryMs = 60000) {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-config-writer-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, 'bootstrap\n');
  const haproxy = new FakeHaproxy(configPath);
  let now = 0;
  const settings = { ...FIXTURE_SETTINGS, stateFile: join(dir, 'state') };
  const files = new ConfigFiles({ configPath, stateFile: settings.stateFile }, haproxy, () => now);
  const writer = new ConfigWriter({ files, template, settings: () => settings, slotOptions, refusalMemoryMs, now: () => now });
  /** The slots and structure id for these records, as the renderer plans them. */
  const plan = (records: NodeRecord[]) => {
    const slots = new SlotTable(slotOptions);
    slots.plan(records, now);
    return { slots, id: structureId(template, settings, slots.structure()) };
  };
  const reload = (records: NodeRecord[]) => {
    const { slots, id } = plan(records);
    return writer.reload(id, slots, records, async () => '');
  };
  const mirror = (records: NodeRecord[]) => {
    const { slots, id } = plan(records);
    return writer.mirror(id, slots, records, async () => '');
  };
  return { haproxy, writer, reload, mirror, live: () => readFileSync(configPath, 'utf8'), tick: (ms: number) => (now += ms) };
}

const a = node('a', '10.0.0.1');
const b = node('b', '10.0.0.2');
const bad = node('bad', '10.6.6.6');

test('applied: the config is live and HAProxy reloaded onto it', async (t) => {
  const { haproxy, writer, reload, live } = setup(t);
  const out = await reload([a, b]);
  t.like(out, { kind: 'applied', result: { reloads: 1 } });
  t.is(haproxy.reloads, 1);
  t.deepEqual(haproxy.live(), ['webapp/s1=10.0.0.1:3000', 'webapp/s2=10.0.0.2:3000']);
  t.regex(live(), /server s2 10\.0\.0\.2:3000/);
  t.truthy(writer.reloadedId);
});

test('unchanged: a mirror of the text already live writes nothing', async (t) => {
  const { haproxy, reload, mirror } = setup(t);
  await reload([a]);
  const checks = haproxy.checks;
  t.deepEqual(await mirror([a]), { kind: 'unchanged' });
  t.is(haproxy.checks, checks, 'no haproxy -c');
  t.like(await mirror([a, b]), { kind: 'applied' }, 'a membership change in the same pool is mirrored');
  t.is(haproxy.reloads, 1, 'a mirror reloads nothing');
});

test('refused: a reload HAProxy fails is refused at its stage, and the same structure is not tried again for a while', async (t) => {
  const { haproxy, reload, tick } = setup(t, 1000);
  haproxy.failReload = true;
  t.like(await reload([a]), { kind: 'refused', stage: 'reload' });
  haproxy.failReload = false;
  t.deepEqual(await reload([a]), { kind: 'unchanged' }, 'within the refusal memory');
  tick(1001);
  t.like(await reload([a]), { kind: 'applied' }, 'after it');
});

test('refused: a config haproxy -c refuses with no record at fault (the template or settings) quarantines nothing', async (t) => {
  const { haproxy, reload } = setup(t);
  haproxy.refuse = /^global/m;
  const out = await reload([a, b]);
  t.like(out, { kind: 'refused', stage: 'check' });
  t.is(haproxy.reloads, 0);
  t.deepEqual(await reload([a, b]), { kind: 'unchanged' }, 'the refused text is not checked again');
});

test('quarantined: haproxy -c refuses a server line, and the records at fault are named', async (t) => {
  const { haproxy, reload } = setup(t);
  haproxy.refuse = /10\.6\.6\.6/;
  const out = await reload([a, bad, b]);
  t.like(out, { kind: 'quarantined', stage: 'check' });
  t.deepEqual(out.kind === 'quarantined' ? out.records.map((r) => r.id) : [], ['bad']);
  t.like(await reload([a, b]), { kind: 'applied' }, 'without them the config passes');
});

test('a record refused only in company is not quarantined: the refusal stands', async (t) => {
  const { haproxy, reload } = setup(t);
  // Refused when both servers are there, never one alone.
  haproxy.refuse = /10\.0\.0\.1:3000[^]*10\.0\.0\.2:3000/;
  t.like(await reload([a, b]), { kind: 'refused', stage: 'check' });
});
