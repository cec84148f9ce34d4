#!/usr/bin/env node
// Breaks each safety guard on purpose, in the compiled code, and runs the tests that name it:
// every one of them must then fail. A guard no test notices is a test that proves nothing
// (a test can pass for a reason other than its title). Run after `npm run build`.
//   node scripts/mutants.mjs            every mutant
//   node scripts/mutants.mjs adoption   those whose name contains "adoption"
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const unit = (name) => `test/unit/${name}.test.ts`;
const integration = (name) => `test/integration/${name}.test.ts`;

/**
 * name: the guard; file: compiled file; from → to: the break (`from` must occur exactly once);
 * tests: ava files (and optional --match) that must fail with it.
 */
const MUTANTS = [
  { name: 'hold on another cluster id', file: 'renderer/desired.js', from: 'prev.clusterId !== snap.clusterId', to: 'false', tests: [unit('renderer')], match: '*cluster id*' },
  { name: 'hold on a revision that went backwards', file: 'renderer/desired.js', from: 'snap.revision < prev.revision', to: 'false', tests: [unit('renderer')], match: '*revision went backwards*' },
  { name: 'the newest revision watched is what a wipe goes back from', file: 'renderer/desired.js', from: 'BigInt(e.revision) > this.lastSnapshot.revision', to: 'false', tests: [unit('renderer')], match: '*wiped long after*' },
  { name: 'hold at adoption (renderer restarted on an emptied etcd)', file: 'renderer/pass.js', from: 'matched * 2 < inRotation.length', to: 'false', tests: [unit('renderer')], match: '*emptied etcd*adopt*' },
  { name: 'the config without records must pass before bisecting', file: 'renderer/isolate.js', from: 'if (!(await accepts([])))', to: 'if (false)', tests: [unit('renderer')], match: '*in every config*' },
  { name: 'a record is refused on its own before quarantine', file: 'renderer/config-writer.js', from: 'if (!(await accepts([r])))', to: 'if (true)', tests: [unit('renderer'), unit('config-writer')], match: '*only in company*' },
  { name: 'an invalid overwrite keeps the last valid value', file: 'renderer/node-view.js', from: "let kept = !err.policy && prev?.createRevision === createRevision ? prev?.record : undefined;", to: 'let kept = undefined;', tests: [unit('desired'), unit('node-view')] },
  { name: '/health tied to convergence (HAProxy refuses an address)', file: 'renderer/status-view.js', from: 's.structureLive && s.converged &&', to: 's.structureLive &&', tests: [unit('renderer')], match: '*refuses a node*' },
  { name: '/health tied to the store being in sync', file: 'renderer/renderer.js', from: 'this.storeUnsyncedMs() <= this.c.storeUnsyncedUnhealthyMs', to: 'true', tests: [unit('renderer')], match: '*out of sync longer*' },
  { name: 'a failed rename of the live config is a refusal', file: 'renderer/config-files.js', from: 'catch (err) {\n            return { ok: false, stage: \'write\', error: new WriteError(`renaming', to: 'catch (err) {\n            throw err; return { ok: false, stage: \'write\', error: new WriteError(`renaming', tests: [unit('renderer'), unit('config-files')], match: '*rename*' },
  { name: 'a refused reload puts the previous config file back', file: 'renderer/config-files.js', from: 'if (previous !== undefined)', to: 'if (false)', tests: [unit('config-files')], match: '*puts the previous file back*' },
  { name: 'a structure refused is not tried again for a while', file: 'renderer/config-writer.js', from: 'this.d.now() - this.refusedAt < this.d.refusalMemoryMs', to: 'false', tests: [unit('config-writer')], match: '*not tried again*' },
  { name: 'a put and a delete in one window coalesce', file: 'renderer/renderer.js', from: 'new Coalescer(c.coalesceMinMs, c.coalesceMaxMs,', to: 'new Coalescer(0, 0,', tests: [unit('renderer')], match: '*within one coalesce window*' },
  { name: 'a lone change goes at once', file: 'renderer/renderer.js', from: "() => this.queue.add('membership'), realTimers, true)", to: "() => this.queue.add('membership'), realTimers, false)", tests: [unit('renderer')], match: '*lone change*' },
  { name: 'a node takes back the leaving slot at its endpoint', file: 'renderer/slots.js', from: "const s = !placed.has(r.id) && leavingAt.get(endpoint(r));", to: 'const s = false;', tests: [unit('slots')], match: '*leaving slot*' },
  { name: 'a plan reports the nodes that left', file: 'renderer/slots.js', from: "this.changes.push({ change: 'left', r: s.node, slot: s.name });", to: ';', tests: [unit('slots')], match: '*plan names what it changed*' },
  { name: 'a reconcile tick waits for a burst to end', file: 'renderer/renderer.js', from: "if (!this.coalescer.pending)\n            this.queue.add('membership');", to: "this.queue.add('membership');", tests: [unit('renderer')], match: '*within one coalesce window*' },
  { name: 'a change is counted applied only once HAProxy has it', file: 'renderer/renderer.js', from: 'if (taking && this.st.converged && this.st.structureLive)', to: 'if (taking)', tests: [unit('renderer')], match: '*change applied*' },
  { name: 'a change reads back only the servers it touched', file: 'renderer/reconciler.js', from: 'this.observe(d.differences.map((x) => x.actual), actual)', to: 'this.observe()', tests: [unit('reconciler')], match: '*only the servers it touched*' },
  { name: 'a DOWN status proves no drain', file: 'renderer/runtime-state.js', from: "status === 'no check'", to: "status === 'no check' || status === 'DOWN'", tests: [unit('reconciler')], match: '*hiding the drain*' },
  { name: 'one slot per address and port', file: 'renderer/slots.js', from: 'const kept = oneEach(nodes, this.pools.get(service));', to: 'const kept = nodes;', tests: [unit('slots')], match: '*one node per address*' },
  { name: 'fail static holds nodes vanishing together', file: 'renderer/desired.js', from: 'const over = window.size >', to: 'const over = false && window.size >', tests: [unit('renderer'), unit('desired')], match: '*fail static*' },
  { name: 'a graceful leave is applied at once', file: 'renderer/desired.js', from: 'if (this.leavers.delete(k))', to: 'if (false)', tests: [unit('renderer')], match: '*graceful leave*' },
  { name: 'the registrar leaves only after CHECK_FALL failures', file: 'registrar/registrar.js', from: 'if (this.inRow < needed)', to: 'if (false)', tests: [unit('registrar')], match: '*CHECK_FALL*' },
  { name: 'the stop check inside a registration attempt', file: 'registrar/registrar.js', from: 'this.registeredAt = new Date(this.clock.wall()).toISOString();\n                if (this.isStopping)\n                    return;', to: 'this.registeredAt = new Date(this.clock.wall()).toISOString();', tests: [unit('registrar')], match: '*stop during registration*' },
  { name: 'leasehold-run: the node leaves before the app hears SIGTERM', file: 'registrar/run.js', from: 'void this.leave().then(() => this.passedOn || this.forward(signal));', to: 'this.forward(signal);\n        void this.leave();', tests: [unit('run')], match: '*before the app hears*' },
  { name: 'log lines escape what a terminal acts on', file: 'common/line-log.js', from: "return line.replace(RAW_IN_JSON,", to: "return line; (RAW_IN_JSON,", tests: [unit('log')] },
  { name: 'an /events client that stops reading is cut off', file: 'common/health-server.js', from: 'if (res.writableLength > EVENTS_MAX_UNREAD)', to: 'if (false)', tests: [unit('health-server')] },
  { name: 'a line break in an event cannot end its server-sent message', file: 'common/sse.js', from: '.split(/\\r\\n|\\r|\\n/)', to: ".split('\\0')", tests: [unit('sse')] },
  { name: "the LB's own backends (the live page's) are no membership", file: 'renderer/runtime-state.js', from: "if (f[1].includes(':'))", to: 'if (false)', tests: [unit('runtime-state')], match: '*show servers state*' },
  { name: 'a replaced agent lets its leases expire (it does not keep them alive)', file: 'registrar/agent.js', from: 'await Promise.all([...this.nodes.values()].map((n) => n.registrar.abandon()));', to: '', tests: [integration('agent')], match: '*agent replaced*' },
  { name: 'the agent refuses a service it holds no credentials for', file: 'registrar/agent.js', from: 'if (!o.services.includes(service))', to: 'if (false)', tests: [integration('agent')], match: '*no credentials*' },
  { name: "the agent's node id is the container's id, not the hostname it picks", file: 'registrar/agent.js', from: 'const nodeId = c.id.slice(0, 12);', to: 'const nodeId = c.hostname ?? c.id.slice(0, 12);', tests: [integration('agent')], match: '*same hostname*' },
  { name: 'a container told to stop is not taken on again by a relist', file: 'registrar/agent.js', from: 'this.stopping_.add(e.id);', to: '', tests: [integration('agent')], match: '*grace period*' },
  { name: "work queue: adds in one tick make one run", file: 'renderer/work-queue.js', from: "queueMicrotask(() => this.pump());", to: "this.pump();", tests: [unit('work-queue')], match: "*queued twice runs once*" },
  { name: "work queue: a key never runs beside itself", file: 'renderer/work-queue.js', from: ".find((k) => !this.running.has(k))", to: ".find(() => true)", tests: [unit('work-queue')], match: "*never one key twice*" },
  { name: "work queue: one handler at a time by default", file: 'renderer/work-queue.js', from: "(this.options.concurrency ?? 1)", to: "(this.options.concurrency ?? 2)", tests: [unit('work-queue')], match: "*concurrency 1*" },
  { name: "work queue: the back-off doubles", file: 'renderer/work-queue.js', from: "baseDelayMs * 2 ** (n - 1)", to: "baseDelayMs", tests: [unit('work-queue')], match: "*doubles*" },
  { name: "work queue: the back-off is capped", file: 'renderer/work-queue.js', from: "Math.min(maxDelayMs, ", to: "Math.min(Infinity, ", tests: [unit('work-queue')], match: "*capped*" },
  { name: "work queue: jitter spreads the retry delay", file: 'renderer/work-queue.js', from: "delay * (1 - jitter / 2 + jitter * random())", to: "delay", tests: [unit('work-queue')], match: "*jitter*" },
  { name: "work queue: anything but a retry ends the back-off", file: 'renderer/work-queue.js', from: "this.failures.delete(key);", to: "", tests: [unit('work-queue')], match: "*resets the back-off*" },
  { name: "work queue: a requeue wins over a retry", file: 'renderer/work-queue.js', from: "if (out?.requeueAfterMs === undefined && out?.retry)", to: "if (out?.retry)", tests: [unit('work-queue')], match: "*requeueAfterMs runs*" },
  { name: "work queue: the earlier of two timed adds wins", file: 'renderer/work-queue.js', from: "if ((this.timed.get(key)?.at ?? Infinity) <= at)\n            return;", to: "", tests: [unit('work-queue')], match: "*earlier wins*" },
  { name: "work queue: a queued key takes no timed add", file: 'renderer/work-queue.js', from: "if (this.stopped || this.queued.has(key))", to: "if (this.stopped)", tests: [unit('work-queue')], match: "*already queued*" },
  { name: "work queue: an immediate add supersedes a timed one", file: 'renderer/work-queue.js', from: "this.cancelTimed(key);\n        this.queued.add(key);", to: "this.queued.add(key);", tests: [unit('work-queue')], match: "*supersedes*" },
  { name: "work queue: a key added while it runs runs once more after", file: 'renderer/work-queue.js', from: "this.pump();\n        this.wakeIdlers();", to: "this.wakeIdlers();", tests: [unit('work-queue')], match: "*runs exactly once more*" },
  { name: "work queue: a throw is retried", file: 'renderer/work-queue.js', from: "return { retry: true };", to: "return;", tests: [unit('work-queue')], match: "*goes to onError*" },
  { name: "work queue: an onError that throws stops nothing", file: 'renderer/work-queue.js', from: "try {\n                this.options.onError?.(key, err);\n            }\n            catch {\n                // A reporter that throws must not stop the key's retries.\n            }", to: "this.options.onError?.(key, err);", tests: [unit('work-queue')], match: "*onError that throws*" },
  { name: "work queue: stop cancels timers", file: 'renderer/work-queue.js', from: "for (const key of [...this.timed.keys()])\n            this.cancelTimed(key);", to: "", tests: [unit('work-queue')], match: "*stop cancels*" },
  { name: "work queue: stop drops queued keys", file: 'renderer/work-queue.js', from: "this.queued.clear();", to: "", tests: [unit('work-queue')], match: "*stop cancels*" },
  { name: "work queue: stop waits for handlers under way", file: 'renderer/work-queue.js', from: "Promise.all(this.running.values())", to: "Promise.resolve()", tests: [unit('work-queue')], match: "*stop cancels*" },
  { name: "work queue: no work after stop (add)", file: 'renderer/work-queue.js', from: "if (this.stopped)\n            return;\n        this.cancelTimed(key);", to: "this.cancelTimed(key);", tests: [unit('work-queue')], match: "*stop cancels*" },
  { name: "work queue: no work after stop (addAfter)", file: 'renderer/work-queue.js', from: "if (this.stopped || this.queued.has(key))", to: "if (this.queued.has(key))", tests: [unit('work-queue')], match: "*stop cancels*" },
  { name: "work queue: stop gives up after timeoutMs", file: 'renderer/work-queue.js', from: "if (timeoutMs === undefined)", to: "if (true)", tests: [unit('work-queue')], match: "*outlasts timeoutMs*" },
  { name: "work queue: idle with timed: true waits for timers", file: 'renderer/work-queue.js', from: "if (!this.timed.size)", to: "if (true)", tests: [unit('work-queue')], match: "*idle resolves*" },
  { name: 'a pass reads the whole worker only when asked (interval, retry, reload)', file: 'renderer/worker-reader.js', from: 'if (whole)', to: 'if (true)', tests: [unit('worker-reader')], match: '*the last read stands*' },
  { name: 'a missing admin socket is a bootstrap config only before any answer', file: 'renderer/worker-reader.js', from: '!this.answeredOnce && code', to: 'code', tests: [unit('worker-reader')], match: '*bootstrap config*' },
  { name: 'a leaving slot is asked about by its own id', file: 'renderer/worker-reader.js', from: 'id: ids.get(`${q.backend}/${q.server}`)', to: 'id: undefined', tests: [unit('worker-reader')], match: '*leaving slot*' },
  { name: 'a re-list reuses a key only at the same revision of the same life', file: 'renderer/node-view.js', from: 'prev.modRevision === kv.modRevision && prev.createRevision === kv.createRevision', to: 'true', tests: [unit('node-view')], match: '*same revision*' },
  { name: 'a re-list after readmitAll admits every key anew', file: 'renderer/desired.js', from: 'sameEtcd && !this.readmit', to: 'sameEtcd', tests: [unit('desired')], match: '*readmitAll*' },
  { name: 'another etcd: no key is reused', file: 'renderer/desired.js', from: 'prev.clusterId === snap.clusterId && ', to: '', tests: [unit('desired')], match: '*readmitAll*' },
  { name: 'relist (rules changed) asks for every key anew', file: 'renderer/renderer.js', from: 'this.desired.readmitAll();', to: '', tests: [unit('renderer')], match: '*relist*' },
  { name: 'a periodic re-list reuses what was admitted', file: 'renderer/desired.js', from: 'this.view.reset(snap.kvs, sameEtcd && !this.readmit)', to: 'this.view.reset(snap.kvs, false)', tests: [unit('renderer'), unit('desired')], match: '*re-list*' },
  { name: 'a kept last valid record answers to the rules now', file: 'renderer/node-view.js', from: 'if (refused)\n                kept = undefined;', to: '', tests: [unit('node-view')], match: '*rules as they are now*' },
  { name: 'a re-list reuses only the same value', file: 'renderer/node-view.js', from: ' && prev.value === kv.value', to: '', tests: [unit('node-view')], match: '*same value and lease*' },
  { name: 'leasehold-run starts the app before loading its etcd client', file: 'leasehold/bin/leasehold-run', from: 'const options_js_1 = require("./options.js");\nconst run_js_1 = require("./run.js");', to: 'require("./daemon.js");\nconst options_js_1 = require("./options.js");\nconst run_js_1 = require("./run.js");', tests: [unit('registrar-bundle')], match: '*starts the app before*' },
  { name: "'compared' only after a whole read", file: 'renderer/renderer.js', from: 'if (this.reader.wholeReads > wholeReads)', to: 'if (whole)', tests: [unit('renderer')], match: '*whole worker says so*' },
];

// A run cut short (^C, a kill) may have left a broken file: put back what it kept aside.
for (const m of MUTANTS) {
  const path = `${root}dist/${m.file}`;
  if (existsSync(`${path}.orig`)) renameSync(`${path}.orig`, path);
}
let current;
const restore = () => {
  if (current && existsSync(`${current}.orig`)) renameSync(`${current}.orig`, current);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => (restore(), process.exit(130)));

const only = process.argv[2];
const chosen = MUTANTS.filter((m) => !only || m.name.includes(only));
if (!chosen.length) {
  console.error(`mutants: none named like "${only}"`);
  process.exit(2);
}

let survived = 0;
const started = Date.now();
for (const m of chosen) {
  const path = `${root}dist/${m.file}`;
  const original = readFileSync(path, 'utf8');
  const n = original.split(m.from).length - 1;
  if (n !== 1) {
    // The code moved: the mutant must be rewritten, not skipped.
    console.error(`mutants: "${m.name}": ${m.file} has ${n} copies of the code to break (want 1)`);
    process.exit(2);
  }
  const t0 = Date.now();
  let run;
  try {
    current = path;
    copyFileSync(path, `${path}.orig`); // its mode too: leasehold-run is an executable
    writeFileSync(path, original.replace(m.from, () => m.to));
    const check = spawnSync(process.execPath, ['--check', path], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`the broken ${m.file} does not parse: ${check.stderr}`);
    const args = [`${root}node_modules/ava/entrypoints/cli.mjs`, ...m.tests, ...(m.match ? ['--match', m.match] : [])];
    run = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 180000, maxBuffer: 64 << 20, env: { ...process.env, FORCE_COLOR: '0' } });
  } finally {
    writeFileSync(path, original);
    restore();
    current = undefined;
  }
  const out = `${run.stdout}${run.stderr}`;
  // No test selected is no proof: ava says so and exits non-zero; count it as a survivor.
  const ran = !/Couldn’t find any matching tests|No tests found/.test(out);
  const failed = out.match(/^ +✘ .*$/gm)?.slice(0, 3).map((l) => l.trim()) ?? [];
  // Killed: the tests ran and failed. A timeout, a crash of the runner or a spawn error is no proof.
  const killed = ran && !run.error && run.status === 1 && failed.length > 0;
  console.log(`${killed ? 'killed  ' : 'SURVIVED'} ${m.name} (${((Date.now() - t0) / 1000).toFixed(1)} s)${killed ? `: ${failed.join('; ')}` : ran ? '' : ': no test matched'}`);
  if (!killed) {
    survived++;
    console.log(out.split('\n').slice(-15).join('\n'));
  }
}
console.log(`mutants: ${chosen.length - survived} of ${chosen.length} killed in ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(survived ? 1 : 0);
