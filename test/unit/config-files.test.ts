// The config files against a fake HAProxy: stage → state file → haproxy -c → rename → reload,
// and at each refusal the live file stays what HAProxy runs.
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { WriteError } from '../../common/errors.js';
import { ConfigFiles } from '../../renderer/config-files.js';
import { FakeHaproxy } from '../helpers/fake-haproxy.js';

const LIVE = 'backend webapp\n  server s1 10.0.0.1:3000 weight 100\n';
const NEXT = 'backend webapp\n  server s1 10.0.0.1:3000 weight 100\n  server s2 10.0.0.2:3000 weight 100\n';

function setup(t: ExecutionContext) {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-config-files-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const configPath = join(dir, 'haproxy.cfg');
  writeFileSync(configPath, LIVE);
  const haproxy = new FakeHaproxy(configPath);
  haproxy.load(LIVE);
  const files = new ConfigFiles({ configPath, stateFile: join(dir, 'state') }, haproxy, () => performance.now());
  const live = () => readFileSync(configPath, 'utf8');
  /** Files left beside the config: none once a write is over, whatever it came to. */
  const leftovers = () => readdirSync(dir).filter((f) => f !== 'haproxy.cfg' && f !== 'state');
  return { dir, configPath, haproxy, files, live, leftovers };
}

test('a reload stages, writes the state file, checks, renames, then reloads HAProxy onto the new file', async (t) => {
  const { dir, haproxy, files, live, leftovers } = setup(t);
  const out = await files.reload(NEXT, 'state v1\n');
  t.like(out, { ok: true, bytes: Buffer.byteLength(NEXT), result: { reloads: 1 } });
  t.is(live(), NEXT);
  t.is(readFileSync(join(dir, 'state'), 'utf8'), 'state v1\n');
  t.is(haproxy.checks, 1);
  t.deepEqual(haproxy.live(), ['webapp/s1=10.0.0.1:3000', 'webapp/s2=10.0.0.2:3000'], 'HAProxy runs the new file');
  t.deepEqual(leftovers(), []);
});

test('haproxy -c refusing the staged file: no rename, no reload, the live file untouched', async (t) => {
  const { haproxy, files, live, leftovers } = setup(t);
  haproxy.refuse = /s2/;
  const out = await files.reload(NEXT, 'state\n');
  t.like(out, { ok: false, stage: 'check' });
  t.is(live(), LIVE);
  t.is(haproxy.reloads, 0);
  t.deepEqual(leftovers(), [], 'the staged file is removed');
});

test('a refused reload puts the previous file back: the disk says what HAProxy runs', async (t) => {
  const { haproxy, files, live, leftovers } = setup(t);
  haproxy.failReload = true;
  const out = await files.reload(NEXT, 'state\n');
  t.like(out, { ok: false, stage: 'reload' });
  t.is(live(), LIVE);
  t.deepEqual(leftovers(), []);
});

test('a failed rename onto the live config is a write refusal, and HAProxy is not reloaded', async (t) => {
  const { configPath, haproxy, files } = setup(t);
  // A directory in the live file's place: rename(2) refuses to replace it.
  rmSync(configPath);
  mkdirSync(configPath);
  writeFileSync(join(configPath, 'keep'), '');
  const out = await files.reload(NEXT, 'state\n');
  t.like(out, { ok: false, stage: 'write' });
  t.true(!out.ok && out.error instanceof WriteError && /renaming/.test(out.error.message));
  t.is(haproxy.reloads, 0);
});

test('a state file that cannot be written is a write refusal before any check', async (t) => {
  const { dir, haproxy, live } = setup(t);
  const files = new ConfigFiles({ configPath: join(dir, 'haproxy.cfg'), stateFile: join(dir, 'missing', 'state') }, haproxy, () => 0);
  const out = await files.reload(NEXT, 'state\n');
  t.like(out, { ok: false, stage: 'write' });
  t.is(haproxy.checks, 0);
  t.is(live(), LIVE);
});

test('a mirror makes the file live after the check, with no reload', async (t) => {
  const { haproxy, files, live, leftovers } = setup(t);
  const out = await files.mirror(NEXT, 'state\n');
  t.like(out, { ok: true, bytes: Buffer.byteLength(NEXT) });
  t.is(live(), NEXT);
  t.is(haproxy.reloads, 0);
  t.deepEqual(leftovers(), []);
  haproxy.refuse = /s3/;
  t.like(await files.mirror(`${NEXT}  server s3 10.0.0.3:3000 weight 1\n`, 'state\n'), { ok: false, stage: 'check' });
  t.is(live(), NEXT, 'a refused mirror leaves the file');
});

test('accepts says whether haproxy -c takes a text, and leaves no probe file', async (t) => {
  const { haproxy, files, live, leftovers } = setup(t);
  haproxy.refuse = /s2/;
  t.true(await files.accepts(LIVE));
  t.false(await files.accepts(NEXT));
  t.is(live(), LIVE);
  t.deepEqual(leftovers(), [], 'no probe file');
});
