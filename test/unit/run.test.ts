// leasehold-run's supervision on a real child process (a small Node app that writes down what it
// hears) and a registration that records when it was started and stopped.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { OptionError } from '../../common/errors.js';
import { registrarOptionsFromEnv } from '../../registrar/options.js';
import { AppRunner, exitStatus } from '../../registrar/run.js';
import { sleep, waitFor } from '../../harness/wait.js';

// The app: says it is ready, writes each signal it hears with the time; exits 7 on SIGTERM (after
// EXIT_DELAY ms), stays up on SIGHUP/SIGUSR1, or exits with CODE after EXIT_AFTER ms on its own.
const APP = `
const { appendFileSync } = require('node:fs');
const out = process.env.OUT;
const note = (s) => appendFileSync(out, s + ' ' + (performance.timeOrigin + performance.now()) + '\\n');
for (const s of ['SIGHUP', 'SIGUSR1', 'SIGINT']) process.on(s, () => note(s));
process.on('SIGTERM', () => { note('SIGTERM'); setTimeout(() => process.exit(7), Number(process.env.EXIT_DELAY || 0)); });
if (process.env.EXIT_AFTER) setTimeout(() => process.exit(Number(process.env.CODE)), Number(process.env.EXIT_AFTER));
note('ready');
setInterval(() => {}, 1000);
`;

class Registration {
  started = 0;
  stopCalls = 0;
  stoppedAt = 0;
  /** Whether the app had heard SIGTERM when the leave ended: read then, not by comparing two processes' clocks. */
  termHeardWhenLeft?: boolean;
  heard?: () => { what: string }[];
  constructor(private readonly stopMs = 0) {}
  start() {
    this.started++;
  }
  async stop() {
    this.stopCalls++;
    await sleep(this.stopMs);
    this.stoppedAt = performance.timeOrigin + performance.now();
    this.termHeardWhenLeft = this.heard?.().some((h) => h.what === 'SIGTERM');
  }
}

function setup(t: ExecutionContext, env: Record<string, string> = {}, stopMs = 0) {
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'heard');
  const registration = new Registration(stopMs);
  const runner = new AppRunner(process.execPath, ['-e', APP], registration, { env: { ...process.env, OUT: out, ...env } });
  const heard = () => {
    try {
      return readFileSync(out, 'utf8').trim().split('\n').map((l) => ({ what: l.split(' ')[0]!, at: Number(l.split(' ')[1]) }));
    } catch {
      return [];
    }
  };
  registration.heard = heard;
  const ready = () => waitFor(() => heard().some((h) => h.what === 'ready'), 'the app ready');
  return { runner, registration, heard, ready };
}

test('SIGTERM: the node has left before the app hears it; leasehold-run exits with the app status', async (t) => {
  const { runner, registration, heard, ready } = setup(t, {}, 300);
  const status = runner.run();
  await ready();
  t.is(registration.started, 1, 'registration started with the app');
  runner.signal('SIGTERM');
  t.is(await status, 7);
  const term = heard().find((h) => h.what === 'SIGTERM');
  t.truthy(term, 'the app heard SIGTERM');
  t.true(registration.stoppedAt > 0, 'the leave ended');
  t.false(registration.termHeardWhenLeft, 'the app had not heard SIGTERM when the leave ended');
  t.is(registration.stopCalls, 1);
});

test('SIGTERM twice: the second reaches the app at once, without waiting for the leave', async (t) => {
  const { runner, registration, heard, ready } = setup(t, {}, 2000);
  const status = runner.run();
  await ready();
  runner.signal('SIGTERM');
  await sleep(100);
  t.false(heard().some((h) => h.what === 'SIGTERM'), 'not before the node has left');
  runner.signal('SIGTERM');
  await waitFor(() => heard().some((h) => h.what === 'SIGTERM'), 'the second SIGTERM passed on', 1500);
  t.is(registration.stoppedAt, 0, 'the leave was still under way');
  t.is(await status, 7);
});

test('SIGTERM twice while leaving: the app hears it once, not once more when the leave ends', async (t) => {
  const { runner, heard, ready } = setup(t, { EXIT_DELAY: '1500' }, 600);
  const status = runner.run();
  await ready();
  runner.signal('SIGTERM');
  await sleep(100);
  runner.signal('SIGTERM');
  t.is(await status, 7);
  t.is(heard().filter((h) => h.what === 'SIGTERM').length, 1);
});

test('RUN_AS: the app runs as another user and group (root only)', async (t) => {
  if (process.getuid?.() !== 0) return t.pass('not root: nothing to drop to');
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-run-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const out = join(dir, 'ids');
  const { chmodSync } = await import('node:fs');
  chmodSync(dir, 0o777);
  const runner = new AppRunner(process.execPath, ['-e', `require('node:fs').writeFileSync(${JSON.stringify(out)}, process.getuid() + ':' + process.getgid() + ':' + process.getgroups().join(','))`], new Registration(), { uid: 65534, gid: 65534 });
  t.is(await runner.run(), 0);
  t.is(readFileSync(out, 'utf8'), '65534:65534:65534', 'no supplementary group of root kept');
});

test('SIGHUP and SIGUSR1 are passed on at once; the app keeps running and the node stays', async (t) => {
  const { runner, registration, heard, ready } = setup(t);
  const status = runner.run();
  await ready();
  runner.signal('SIGHUP');
  runner.signal('SIGUSR1');
  await waitFor(() => heard().some((h) => h.what === 'SIGUSR1') && heard().some((h) => h.what === 'SIGHUP'), 'both signals heard');
  t.is(registration.stopCalls, 0);
  runner.signal('SIGINT'); // a leave signal, as Ctrl-C: the app handles it and stays up
  await waitFor(() => heard().some((h) => h.what === 'SIGINT'), 'SIGINT passed on after the leave');
  t.is(registration.stopCalls, 1);
  runner.signal('SIGTERM');
  t.is(await status, 7);
});

test('an app that exits on its own: the node leaves, and its code is the status (nothing restarted)', async (t) => {
  const { runner, registration, heard } = setup(t, { EXIT_AFTER: '200', CODE: '3' });
  t.is(await runner.run(), 3);
  t.is(registration.stopCalls, 1, 'left at once');
  t.is(heard().filter((h) => h.what === 'ready').length, 1, 'started once');
});

test('exitStatus: the code, or 128 + the signal number, as a shell reports it', (t) => {
  t.is(exitStatus(null, 'SIGKILL'), 137);
  t.is(exitStatus(null, 'SIGTERM'), 143);
  t.is(exitStatus(0, null), 0);
  t.is(exitStatus(7, null), 7);
});

test('a SIGKILLed app (a crash): the node leaves, status 137', async (t) => {
  const registration = new Registration();
  const runner = new AppRunner(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], registration);
  const pid = new Promise<number>((r) => runner.once('started', (e) => r(e.pid)));
  const status = runner.run();
  process.kill(await pid, 'SIGKILL');
  t.is(await status, 137);
  t.is(registration.stopCalls, 1);
});

test('a command that does not exist: status 127, and the registration is stopped', async (t) => {
  const registration = new Registration();
  const runner = new AppRunner('/nonexistent/app', [], registration);
  const failed: number[] = [];
  runner.on('failed', (e) => failed.push(e.status));
  t.is(await runner.run(), 127);
  t.deepEqual(failed, [127]);
  t.is(registration.started, 0, 'nothing registered for an app that never ran');
  t.is(registration.stopCalls, 1);
});

test('the app has a session of its own: a signal to our process group (a terminal ^C) does not reach it past the leave', async (t) => {
  const registration = new Registration();
  const runner = new AppRunner(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], registration);
  const pid = new Promise<number>((r) => runner.once('started', (e) => r(e.pid)));
  const status = runner.run();
  // /proc/PID/stat: "pid (comm) state ppid pgrp session ..."
  const ids = (p: number | 'self') => readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ').slice(2, 4).map(Number);
  const [pgrp, session] = ids(await pid);
  t.is(pgrp, await pid, 'leads its own process group');
  t.not(session, ids('self')[1], 'in another session');
  runner.signal('SIGTERM');
  t.is(await status, 143);
});

test('a leave signal before the app starts (a stop during start-up): it never starts, status 128 + the signal', async (t) => {
  const registration = new Registration();
  let spawned = 0;
  const runner = new AppRunner(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], registration, {
    spawn: () => {
      spawned++;
      throw new Error('not to be started');
    },
  });
  runner.signal('SIGHUP'); // nothing to pass it to
  runner.signal('SIGTERM');
  runner.signal('SIGINT');
  t.is(await runner.run(), 143);
  t.is(spawned, 0);
  t.is(registration.started, 0);
});

test('HEALTH_URL: http:// and tcp://host:port are taken; https:// (which no check could pass) and a tcp:// with a path are refused', (t) => {
  const read = (url: string) => registrarOptionsFromEnv({ HEALTH_URL: url }, 'h');
  t.is(read('http://127.0.0.1:8080/health').healthUrl, 'http://127.0.0.1:8080/health');
  t.is(read('tcp://127.0.0.1:5432').healthUrl, 'tcp://127.0.0.1:5432');
  t.throws(() => read('https://127.0.0.1:8443/health'), { instanceOf: OptionError });
  t.throws(() => read('tcp://127.0.0.1:5432/x'), { instanceOf: OptionError });
});

test('LateRegistration: the app starts before the registrar is ready; the registrar starts when it comes; a stop before it means it never starts', async (t) => {
  const { LateRegistration } = await import('../../registrar/run.js');
  const late = new LateRegistration();
  late.start(); // the app started
  const r = new Registration();
  t.true(late.attach(r));
  t.is(r.started, 1, 'started as it came, the app being up');
  await late.stop();
  await late.stop();
  t.is(r.stopCalls, 1, 'one leave however often asked');

  const early = new LateRegistration();
  const r2 = new Registration();
  t.true(early.attach(r2));
  t.is(r2.started, 0, 'not before the app starts');
  early.start();
  t.is(r2.started, 1);

  const stopped = new LateRegistration();
  stopped.start();
  await stopped.stop(); // a docker stop during our start-up: nothing registered to undo
  const r3 = new Registration();
  t.false(stopped.attach(r3), 'too late: refused');
  t.is(r3.started, 0, 'never started: no record for an app that is going');
});
