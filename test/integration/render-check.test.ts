import test from 'ava';
import { haproxyCheck } from '../helpers/haproxy.js';
import { requireBinary } from '../helpers/bins.js';
import { TEST_SRC, fixtureNames } from '../helpers/fixtures.js';

test.before(() => requireBinary('haproxy', 'haproxy'));

for (const name of fixtureNames()) {
  test(`expected/${name}.cfg passes haproxy -c`, (t) => {
    t.regex(haproxyCheck(`${TEST_SRC}expected/${name}.cfg`), /valid/);
  });
}
