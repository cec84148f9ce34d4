#!/usr/bin/env node
// leasehold-run [--] COMMAND [ARG...]: runs COMMAND as its child and registers it while it is
// healthy. An image's ENTRYPOINT: ["/opt/leasehold/bin/leasehold-run", "--"], its CMD the app.
// Told by the same environment as leasehold-registrar (docs/deploy.md, "Bring your own app").
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { type EventLog, createLineLog } from '../common/line-log.js';
import type { Wired } from './daemon.js';
import { registrarOptionsOrExit } from './options.js';
import { AppRunner, LEAVE_SIGNALS, LateRegistration, PASS_SIGNALS } from './run.js';

/** What the app is not given: the registrar's own secrets. */
const PRIVATE = ['ETCD_PASSWORD', 'ETCD_PASSWORD_FILE'];

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const cmd = argv[0] === '--' ? argv.slice(1) : argv;
  if (!cmd.length) {
    process.stderr.write('usage: leasehold-run [--] COMMAND [ARG...]\n');
    process.exit(2);
  }
  const appEnv = { ...process.env };
  for (const k of PRIVATE) delete appEnv[k];
  // The bundle's own libraries (LD_LIBRARY_PATH=/opt/leasehold/lib, for an image without
  // libstdc++) are for its Node, not the app's.
  const here = dirname(dirname(process.argv[1]!));
  if (appEnv.LD_LIBRARY_PATH) {
    const rest = appEnv.LD_LIBRARY_PATH.split(':').filter((d) => d && !d.startsWith(here + '/'));
    if (rest.length) appEnv.LD_LIBRARY_PATH = rest.join(':');
    else delete appEnv.LD_LIBRARY_PATH;
  }
  let ids: { uid?: number; gid?: number } = {};
  try {
    ids = runAs(process.env.RUN_AS);
  } catch (err) {
    process.stderr.write(`leasehold-run: ${(err as Error).message}\n`);
    process.exit(2);
  }
  // tini beside us (the bundle has it) between us and the app, as a subreaper: Node waits for
  // its own children only, so as PID 1 it would leave the app's orphans as zombies.
  const tini = join(here, 'bin', 'tini');
  const wrap = existsSync(tini) ? [tini, '-s', '--'] : [];
  // Defaults of their own here: no port of ours beside an app we do not know (its /health is
  // opt-in), and readiness polled every 5 ms, the join waits on it.
  const env = { REGISTRAR_HEALTH_PORT: '0', WAIT_CHECK_INTERVAL_MS: '5', ...process.env };
  // Options and TLS files read before the app starts: a bad one stops us with no app left behind.
  const { o, tls } = registrarOptionsOrExit(env, 'leasehold-run');
  // The runner and its signal handlers before anything slow: as PID 1, a signal with no handler
  // is dropped, and a `docker stop` during start-up would wait out its grace period, then kill
  // the app after it had joined. A leave signal before the app starts means it never starts.
  const registration = new LateRegistration();
  const runner = new AppRunner(cmd[0]!, cmd.slice(1), registration, { env: appEnv, wrap, ...ids });
  for (const s of [...LEAVE_SIGNALS, ...PASS_SIGNALS]) process.on(s, () => runner.signal(s));
  // What the runner says before the log is wired is said once it is.
  let log: EventLog | undefined;
  const early: (() => void)[] = [];
  const say = (f: (l: EventLog) => void) => (log ? f(log) : early.push(() => f(log!)));
  runner.on('started', (e) => say((l) => l.info({ event: 'app-started', pid: e.pid, command: e.command }, `app started: ${e.command}`)));
  runner.on('leaving', (e) => say((l) => l.info({ event: 'signal', signal: e.signal }, `${e.signal}: leaving, then passing it on`)));
  runner.on('exited', (e) => say((l) => (e.asked ? l.info : l.warn)({ event: 'app-exited', code: e.code, signal: e.signal, status: e.status }, `app exited (${e.signal ?? `code ${e.code}`})${e.asked ? '' : ': leaving'}`)));
  runner.on('failed', (e) => say((l) => l.fatal({ event: 'app-failed', err: e.error, status: e.status }, `cannot start ${cmd[0]}`)));
  // The app starts now, beside our own start-up (Node's, the TLS login and the lease): it joins
  // once both are done, and its own start no longer waits for ours.
  const status = runner.run();

  // The etcd client and the app check (node:http and node:tls, ~30 ms of Node's modules) are
  // loaded only now, so that the app's start does not wait for them.
  let wired: Wired;
  try {
    const { wireRegistrar } = await import('./daemon.js');
    wired = await wireRegistrar(o, tls, 'leasehold-run');
  } catch (err) {
    // The app runs already and no node was registered: it is stopped as a `docker stop` would,
    // and waited for, so that nothing is left running unsupervised.
    log = createLineLog('leasehold-run');
    for (const f of early.splice(0)) f();
    log.fatal({ event: 'start-failed', err }, 'cannot start the registrar: stopping the app');
    runner.signal('SIGTERM');
    await status;
    process.exit(2);
  }
  const { store } = wired;
  log = wired.log;
  for (const f of early.splice(0)) f();
  if (process.pid === 1 && !wrap.length) log.warn({ event: 'pid-1' }, `running as PID 1 without ${tini}: orphaned processes are not reaped; run the container with --init (compose: init: true)`);
  // NODE_OPTIONS set for a Node app applies to leasehold-run's own Node as well (a preload, an
  // inspector port): it is the app's business, best set in its command, not the image's env.
  if (process.env.NODE_OPTIONS) log.warn({ event: 'node-options', nodeOptions: process.env.NODE_OPTIONS }, 'NODE_OPTIONS applies to leasehold-run too: set it in the app\'s command (env NODE_OPTIONS=... node app.js) instead');
  registration.attach(wired.registrar);

  const code = await status;
  store.close();
  process.exit(code);
}

void main();

/** RUN_AS=uid[:gid], numeric: the app's user and group (default: leasehold-run's own). */
/** The user the app runs as, `uid` or `uid:gid` (numbers): it then cannot read the etcd credentials (root's, mode 600). Env `RUN_AS`. Default: leasehold-run's own user. */
function runAs(v: string | undefined): { uid?: number; gid?: number } {
  if (!v) return {};
  const m = /^(\d{1,10})(?::(\d{1,10}))?$/.exec(v);
  if (!m) throw new Error(`RUN_AS=${JSON.stringify(v)}: must be uid or uid:gid, numbers`);
  const uid = Number(m[1]);
  return { uid, gid: m[2] !== undefined ? Number(m[2]) : uid };
}
