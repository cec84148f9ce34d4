import test from 'ava';
import { OptionError } from '../../common/errors.js';
import { DEFAULT_RENDERER, MAIN_USAGE, SPECS, cliOptionsFromEnv, parseArgs, parseDuration, usage } from '../../cli/args.js';
import { UsageError, exitCodeOf } from '../../cli/errors.js';

const fails = (t: import('ava').ExecutionContext, argv: string[], message: RegExp, command?: string) => {
  const err = t.throws(() => parseArgs(argv), { instanceOf: UsageError, message });
  t.is(err?.command, command, `usage of ${command ?? 'leasehold'} is printed`);
  t.is(exitCodeOf(err), 2);
};

test('status: optional service, --json, repeatable and comma-separated --renderer', (t) => {
  t.deepEqual(parseArgs(['status']), { name: 'status', service: undefined, json: false, renderers: undefined });
  t.deepEqual(parseArgs(['status', 'api', '--json']), { name: 'status', service: 'api', json: true, renderers: undefined });
  t.like(parseArgs(['status', '--renderer', '10.0.0.1:8405', '--renderer=http://lb2:8405/,https://lb3']), { renderers: ['http://10.0.0.1:8405', 'http://lb2:8405', 'https://lb3'] });
  fails(t, ['status', 'a', 'b'], /unexpected argument "b"/, 'status');
  fails(t, ['status', 'bad name'], /not a service name/, 'status');
  fails(t, ['status', '--renderer'], /--renderer needs a value/, 'status');
  fails(t, ['status', '--renderer', 'ftp://x'], /not an http/, 'status');
  fails(t, ['status', '--wait'], /unknown option --wait/, 'status');
  fails(t, ['status', '--json=yes'], /--json takes no value/, 'status');
});

test('drain: node, --wait, --timeout with units, --force', (t) => {
  t.deepEqual(parseArgs(['drain', 'webapp/3f2c9a1b7d10']), { name: 'drain', node: { service: 'webapp', id: '3f2c9a1b7d10' }, wait: false, timeoutMs: 60000, force: false, renderers: undefined });
  t.like(parseArgs(['drain', '--wait', 'webapp/a', '--timeout', '90s']), { wait: true, timeoutMs: 90000 });
  t.like(parseArgs(['drain', 'webapp/a', '--wait', '--timeout=500ms', '--force']), { timeoutMs: 500, force: true });
  t.like(parseArgs(['drain', 'webapp/a', '--wait', '--timeout', '2m']), { timeoutMs: 120000 });
  t.like(parseArgs(['drain', 'webapp/a', '--wait', '--timeout', '5']), { timeoutMs: 5000 });
  fails(t, ['drain'], /a node <service>\/<id> is missing/, 'drain');
  fails(t, ['drain', 'webapp'], /expected <service>\/<id>/, 'drain');
  fails(t, ['drain', 'webapp/a/b'], /expected <service>\/<id>/, 'drain');
  fails(t, ['drain', 'web app/a'], /expected <service>\/<id>/, 'drain');
  fails(t, ['drain', 'webapp/a', '--timeout', '10s'], /--timeout goes with --wait/, 'drain');
  fails(t, ['drain', 'webapp/a', '--wait', '--timeout', 'soon'], /drain: "soon" is not a duration/, 'drain');
  fails(t, ['drain', 'webapp/a', '--wait', '--timeout', '1s', '--timeout', '2s'], /given twice/, 'drain');
  fails(t, ['drain', 'webapp/a', 'webapp/b'], /unexpected argument/, 'drain');
});

test('undrain: node and --force only', (t) => {
  t.deepEqual(parseArgs(['undrain', 'api/n-1']), { name: 'undrain', node: { service: 'api', id: 'n-1' }, force: false });
  t.like(parseArgs(['undrain', '--force', 'api/n-1']), { force: true });
  fails(t, ['undrain', 'api/n-1', '--wait'], /unknown option --wait/, 'undrain');
  fails(t, ['undrain'], /missing/, 'undrain');
});

test('weight: 0..256, or --reset, never both', (t) => {
  t.deepEqual(parseArgs(['weight', 'webapp/a', '0']), { name: 'weight', node: { service: 'webapp', id: 'a' }, weight: 0, force: false });
  t.like(parseArgs(['weight', 'webapp/a', '256', '--force']), { weight: 256, force: true });
  t.like(parseArgs(['weight', 'webapp/a', '--reset']), { weight: 'reset' });
  for (const bad of ['257', '-1', '1.5', '0x10', 'ten', '']) fails(t, ['weight', 'webapp/a', '--', bad], /not a weight/, 'weight');
  fails(t, ['weight', 'webapp/a'], /a weight from 0 to 256 \(or --reset\) is missing/, 'weight');
  fails(t, ['weight', 'webapp/a', '10', '--reset'], /either a weight or --reset/, 'weight');
});

test('watch: --json and renderers, no positionals', (t) => {
  t.deepEqual(parseArgs(['watch']), { name: 'watch', json: false, renderers: undefined });
  t.like(parseArgs(['watch', '--json', '--renderer', 'lb:1']), { json: true, renderers: ['http://lb:1'] });
  fails(t, ['watch', 'webapp'], /unexpected argument/, 'watch');
});

test('help: leasehold help, --help, -h, and per command', (t) => {
  t.deepEqual(parseArgs(['--help']), { name: 'help', topic: undefined });
  t.deepEqual(parseArgs(['help']), { name: 'help', topic: undefined });
  t.deepEqual(parseArgs(['help', 'drain']), { name: 'help', topic: 'drain' });
  t.deepEqual(parseArgs(['drain', '--help']), { name: 'help', topic: 'drain' });
  t.deepEqual(parseArgs(['status', 'webapp', '-h']), { name: 'help', topic: 'status' });
  // --help wins over anything wrong after it
  t.deepEqual(parseArgs(['weight', '-h', 'nonsense', '--nope']), { name: 'help', topic: 'weight' });
  for (const name of Object.keys(SPECS)) {
    t.true(usage(name).startsWith(`usage: leasehold ${name}`), name);
    t.true(MAIN_USAGE.includes(`  ${name}`), `${name} is in the main usage`);
  }
  t.is(usage('nope'), MAIN_USAGE);
});

test('no command, an unknown one, or a flag first: leasehold usage', (t) => {
  fails(t, [], /no command given/);
  fails(t, ['stats'], /no such command: stats/);
  fails(t, ['--json', 'status'], /a command comes first/);
  fails(t, ['help', 'stats'], /no such command: stats/);
});

test('durations', (t) => {
  t.is(parseDuration('1.5s'), 1500);
  t.is(parseDuration('1h'), 3600000);
  t.throws(() => parseDuration('0'), { instanceOf: UsageError });
  t.throws(() => parseDuration('25h'), { instanceOf: UsageError });
  t.throws(() => parseDuration('1d'), { instanceOf: UsageError });
});

test('options from the environment: documented defaults', (t) => {
  const o = cliOptionsFromEnv({}, 'alice', 'box');
  t.deepEqual(o, {
    etcd: o.etcd,
    nodesPrefix: '/nodes/',
    operatorPrefix: '/leasehold/',
    renderers: [DEFAULT_RENDERER],
    noColor: false,
    who: 'alice@box',
  });
  t.deepEqual(o.etcd.endpoints, ['http://127.0.0.1:2379']);
});

test('options from the environment: prefixes, renderers, NO_COLOR, who', (t) => {
  const o = cliOptionsFromEnv(
    { NODES_PREFIX: '/n', OPERATOR_PREFIX: '/ops', LEASEHOLD_RENDERERS: 'lb1:8405, http://lb2:8405/', NO_COLOR: '1', SUDO_USER: 'bob', ETCD_ENDPOINTS: 'etcd:2379' },
    'root',
    'box',
  );
  t.like(o, { nodesPrefix: '/n/', operatorPrefix: '/ops/', renderers: ['http://lb1:8405', 'http://lb2:8405'], noColor: true, who: 'bob@box' });
  t.deepEqual(o.etcd.endpoints, ['http://etcd:2379']);
  t.is(cliOptionsFromEnv({ LEASEHOLD_USER: 'ops-team', NO_COLOR: '' }, 'root', 'box').who, 'ops-team');
  t.false(cliOptionsFromEnv({ NO_COLOR: '' }, 'root', 'box').noColor, 'NO_COLOR set but empty: colour stays (no-color.org)');
  const bad = t.throws(() => cliOptionsFromEnv({ OPERATOR_PREFIX: '/nodes/ops' }, 'r', 'h'), { instanceOf: OptionError, message: /must not contain one another/ });
  t.is(exitCodeOf(bad), 2);
  t.throws(() => cliOptionsFromEnv({ LEASEHOLD_RENDERERS: 'ftp://x' }, 'r', 'h'), { instanceOf: OptionError, message: /LEASEHOLD_RENDERERS/ });
});

test('LEASEHOLD_RENDERER_CA, _CERT and _KEY go together; the renderer\'s name defaults to the peer certificate\'s', (t) => {
  const o = cliOptionsFromEnv({ LEASEHOLD_RENDERER_CA: '/ca.pem', LEASEHOLD_RENDERER_CERT: '/p.pem', LEASEHOLD_RENDERER_KEY: '/k.pem' }, 'r', 'h');
  t.deepEqual(o.rendererTls, { caFile: '/ca.pem', certFile: '/p.pem', keyFile: '/k.pem', name: 'leasehold-renderer-peer' });
  t.throws(() => cliOptionsFromEnv({ LEASEHOLD_RENDERER_CERT: '/p.pem' }, 'r', 'h'), { instanceOf: OptionError, message: /go together/ });
});
