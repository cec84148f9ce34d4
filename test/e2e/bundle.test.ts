// Any image joins with one COPY: `static` is Debian's busybox httpd with the drop-in bundle
// (/opt/leasehold, leasehold-run as its ENTRYPOINT; images/Dockerfile, target registrar), under the load
// real clients make, through joins, `docker stop` and SIGKILL; and an image a user builds from
// leasehold/registrar with the lines of docs/deploy.md joins the same way.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { docker, stackForFile } from '../../harness/compose.js';
import { assertNoFailures } from '../helpers/assert-load.js';
import { routedService } from '../helpers/service.js';
import { get } from '../../harness/http.js';
import { sleep, waitFor } from '../../harness/wait.js';

const stack = stackForFile(test, { webapps: 1 });
const HOST = 'static.localhost';
const TAG = process.env.LEASEHOLD_TAG || 'latest';
const { running, records, converged, load, scale } = routedService(stack, 'static', HOST);

test.serial('busybox with the bundle joins: served for its Host, in etcd under its own service, and scales', async (t) => {
  await scale(3);
  const ids = await converged(60000);
  t.is(ids.length, 3);
  const l = load({ maxRequests: 60, rps: 30 });
  await sleep(2500);
  const r = await l['keep-alive GET'].stop();
  await l['fresh-connection GET'].stop();
  t.is(r.failed.length, 0);
  t.deepEqual([...new Set(r.samples.map((s) => s.host))].sort(), ids, 'every container answers for static.localhost');
});

/** Processes of a static container: pid, parent, state, uid, command line. */
async function processes(): Promise<{ pid: number; ppid: number; state: string; uid: number; cmd: string }[]> {
  const r = await stack.exec('static', ['sh', '-c', 'for p in /proc/[0-9]*; do echo "$(cut -d" " -f1,3,4 $p/stat) $(sed -n "s/^Uid:[[:space:]]*\\([0-9]*\\).*/\\1/p" $p/status) $(tr "\\0" " " < $p/cmdline)"; done']);
  return r.stdout.split('\n').filter(Boolean).map((l) => {
    const [pid, state, ppid, uid, ...cmd] = l.split(' ');
    return { pid: Number(pid), state: state!, ppid: Number(ppid), uid: Number(uid), cmd: cmd.join(' ').trim() };
  });
}

test.serial("the app runs under tini as nobody (RUN_AS): it cannot read leasehold-run's secrets, in its environment, the file, or leasehold-run's", async (t) => {
  const [c] = await stack.containers('static');
  const info = await docker.getContainer(c!.Id).inspect();
  t.false(info.Config.Env.some((e) => e.startsWith('ETCD_PASSWORD=')), 'a file path only');
  const ps = await processes();
  const show = ps.map((p) => `${p.pid} ${p.ppid} ${p.state} ${p.uid} ${p.cmd}`).join('\n');
  const app = ps.find((p) => p.cmd.startsWith('busybox httpd'));
  const tini = ps.find((p) => p.pid === app?.ppid);
  t.truthy(app && tini, show);
  t.regex(tini!.cmd, /^\/opt\/leasehold\/bin\/tini -s --/, `the app's parent is tini:\n${show}`);
  t.is(tini!.ppid, 1, 'tini is leasehold-run\'s child');
  t.regex(ps.find((p) => p.pid === 1)!.cmd, /leasehold-run/);
  t.is(app!.uid, 65534, 'the app runs as nobody');
  // Read as the app's user: root in a container has no CAP_SYS_PTRACE to read another user's.
  const env = await stack.compose(['exec', '-T', '-u', '65534', 'static', 'sh', '-c', `tr '\\0' '\\n' < /proc/${app!.pid}/environ`]);
  t.regex(env, /^SERVICE=static$/m, 'the app keeps the rest of its environment');
  t.notRegex(env, /ETCD_PASSWORD/);
  // As the app's user: the password file and leasehold-run's environment are out of reach.
  const asApp = (cmd: string) => stack.compose(['exec', '-T', '-u', '65534', 'static', 'sh', '-c', cmd]).then(() => 0, () => 1);
  t.is(await asApp('cat /etc/leasehold/pki/password'), 1, 'the password file is root\'s');
  t.is(await asApp('cat /etc/leasehold/pki/registrar-key.pem'), 1, 'so is the key');
  t.is(await asApp('cat /proc/1/environ'), 1, 'and leasehold-run\'s environment');
  t.is(await asApp('cat /www/index.html >/dev/null'), 0, 'what the app needs it can read');
});

test.serial('docker stop under load: the node leaves before the app hears SIGTERM, no failed request, the app\'s status is the container\'s', async (t) => {
  const before = await converged();
  const loads = load();
  await sleep(1500);
  const [victim, id] = [...(await running())][0]!;
  const stopped = Date.now();
  const stopping = docker.getContainer(id).stop({ t: 10 });
  await waitFor(async () => !(await records()).some((r) => r.id === victim), 'record gone', 10000, 50);
  const gone = Date.now() - stopped;
  await stopping;
  const took = Date.now() - stopped;
  t.log(`record gone ${gone} ms after docker stop began; the container ended after ${took} ms`);
  t.true(took < 8000, `${took} ms: httpd heard the TERM leasehold-run passed on (not Docker's kill at 10 s)`);
  const state = (await docker.getContainer(id).inspect()).State;
  t.is(state.ExitCode, 143, 'httpd ended by SIGTERM: 128 + 15, as a shell reports it');
  const logs = await docker.getContainer(id).logs({ stdout: true, stderr: true });
  const text = logs.toString('utf8');
  t.true(text.indexOf('lease revoked') > 0 && text.indexOf('lease revoked') < text.indexOf('app exited'), 'revoked, then the app exited');
  await sleep(1500);
  await assertNoFailures(t, loads);
  await docker.getContainer(id).remove({ force: true });
  await scale(before.length);
  await converged(60000);
});

test.serial('SIGKILL of a static container under load (a crash): no failed request; the lease expires within its TTL', async (t) => {
  const before = await converged();
  const loads = load();
  await sleep(1500);
  const [victim, id] = [...(await running())][0]!;
  const killed = Date.now();
  await docker.getContainer(id).kill();
  await waitFor(async () => !(await records()).some((r) => r.id === victim), 'record gone', 15000, 50);
  const gone = Date.now() - killed;
  t.log(`record gone ${gone} ms after the kill (lease TTL 5 s; HAProxy's checks meanwhile)`);
  await sleep(1500);
  await assertNoFailures(t, loads);
  await docker.getContainer(id).remove({ force: true });
  await scale(before.length);
  await converged(60000);
});

function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { cwd, timeout: 600000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout))),
  );
}

test.serial("a user's own image, built with docs/deploy.md's lines from leasehold/registrar, joins and leaves", async (t) => {
  // The lines of docs/deploy.md, on an image with nothing of leasehold in it (the labelled example's).
  const dir = mkdtempSync(join(tmpdir(), 'leasehold-byo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'Dockerfile'), `FROM leasehold/static:${TAG}
COPY --from=leasehold/registrar:${TAG} /opt/leasehold /opt/leasehold
ENTRYPOINT ["/opt/leasehold/bin/leasehold-run", "--"]
CMD ["sh", "-c", "(sleep 0.2 &); echo \\"byo $(hostname)\\" > /www/who && exec busybox httpd -f -p 8080 -h /www"]
`);
  const tag = `leasehold-test/byo:${stack.runId}`;
  await sh('docker', ['build', '-q', '-t', tag, '.'], dir);
  t.teardown(() => docker.getImage(tag).remove({ force: true }).catch(() => undefined));
  // Run beside the static containers, as service static, with its credentials.
  const [peer] = await stack.containers('static');
  const info = await docker.getContainer(peer!.Id).inspect();
  const env = info.Config.Env.filter((e) => /^(ETCD_|NODES_PREFIX=|LEASE_TTL=)/.test(e));
  const c = await docker.createContainer({
    Image: tag,
    Env: [...env, 'SERVICE=static', 'PORT=8080', 'HEALTH_URL=http://127.0.0.1:8080/index.html'],
    Labels: { 'leasehold.test-run': stack.runId },
    HostConfig: { NetworkMode: Object.keys(info.NetworkSettings.Networks)[0]!, Binds: info.Mounts.filter((m) => m.Destination === '/etc/leasehold/pki').map((m) => `${m.Name}:/etc/leasehold/pki:ro`) },
  });
  t.teardown(() => c.remove({ force: true }).catch(() => undefined));
  await c.start();
  const node = c.id.slice(0, 12);
  await waitFor(async () => (await records()).some((r) => r.id === node), 'the user image registered', 30000, 100);
  await waitFor(async () => {
    const r = await get(stack.url + 'who', { host: HOST });
    return r.text.startsWith('byo ');
  }, 'served for static.localhost', 30000, 20);
  // The app orphaned a sleep (its subshell exited): tini, as subreaper, reaped it.
  await sleep(500);
  const zombies = await sh('docker', ['exec', c.id, 'sh', '-c', 'cat /proc/[0-9]*/stat | cut -d" " -f1-3 | grep " Z$" || true'], dir);
  t.is(zombies.trim(), '', 'no zombie left');
  await c.stop({ t: 10 });
  t.false((await records()).some((r) => r.id === node), 'gone with its container');
  t.is((await c.inspect()).State.ExitCode, 143);
});
