#!/usr/bin/env node
// leasehold-run [--] COMMAND [ARG...]: runs COMMAND as its child and registers it while it is
// healthy. An image's ENTRYPOINT: ["/opt/leasehold/bin/leasehold-run", "--"], its CMD the app.
// Told by the same environment as leasehold-registrar (README, "Bring your own app").
import { registrarFromEnv } from './daemon.js';
import { AppRunner, LEAVE_SIGNALS, PASS_SIGNALS, type Registration } from './run.js';

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
  // The runner and its signal handlers before anything slow: as PID 1, a signal with no handler
  // is dropped, and a `docker stop` during start-up would wait out its grace period, then kill
  // the app after it had joined. A leave signal before the app starts means it never starts.
  let registrar: Registration | undefined;
  const registration: Registration = { start: () => registrar?.start(), stop: () => registrar?.stop() ?? Promise.resolve() };
  const runner = new AppRunner(cmd[0]!, cmd.slice(1), registration, { env: appEnv });
  for (const s of [...LEAVE_SIGNALS, ...PASS_SIGNALS]) process.on(s, () => runner.signal(s));

  // Defaults of their own here: no port of ours beside an app we do not know (its /health is
  // opt-in), and readiness polled every 5 ms, the join waits on it.
  const env = { REGISTRAR_HEALTH_PORT: '0', WAIT_CHECK_INTERVAL_MS: '5', ...process.env };
  const wired = await registrarFromEnv(env, 'leasehold-run');
  const { store, log } = wired;
  registrar = wired.registrar;
  // As PID 1 nothing reaps the app's orphans (Node waits for its own children only: zombies pile
  // up), and a signal that comes while Node starts is dropped. tini as PID 1 does both.
  if (process.pid === 1) log.warn({ event: 'pid-1' }, 'running as PID 1: orphaned processes are not reaped; run the container with --init (compose: init: true)');

  runner.on('started', (e) => log.info({ event: 'app-started', pid: e.pid, command: e.command }, `app started: ${e.command}`));
  runner.on('leaving', (e) => log.info({ event: 'signal', signal: e.signal }, `${e.signal}: leaving, then passing it on`));
  runner.on('exited', (e) => (e.asked ? log.info : log.warn)({ event: 'app-exited', code: e.code, signal: e.signal, status: e.status }, `app exited (${e.signal ?? `code ${e.code}`})${e.asked ? '' : ': leaving'}`));
  runner.on('failed', (e) => log.fatal({ event: 'app-failed', err: e.error, status: e.status }, `cannot start ${cmd[0]}`));

  const status = await runner.run();
  store.close();
  process.exit(status);
}

void main();
