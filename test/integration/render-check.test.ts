import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { routesMapText } from '../../renderer/admission-rules.js';
import { requireBinary } from '../../harness/bins.js';
import { FIXTURE_SETTINGS, TEST_SRC, fixtureNames } from '../helpers/fixtures.js';
import { haproxyCheck } from '../../harness/haproxy.js';

test.before(() => requireBinary('haproxy', 'haproxy'));

for (const name of fixtureNames()) {
  test(`expected/${name}.cfg passes haproxy -c`, (t) => {
    // The config names its routes map: give it one, where the test can write.
    const dir = mkdtempSync(join(tmpdir(), 'leasehold-check-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'routes.map'), routesMapText(FIXTURE_SETTINGS.routes));
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, readFileSync(`${TEST_SRC}expected/${name}.cfg`, 'utf8').replaceAll(FIXTURE_SETTINGS.routesMap, join(dir, 'routes.map')));
    t.notThrows(() => haproxyCheck(cfg));
  });
}
