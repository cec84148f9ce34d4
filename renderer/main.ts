#!/usr/bin/env node
// Wires the renderer to the environment, etcd, HAProxy, signals and logs.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { admissionRules, routesMapText } from './admission-rules.js';
import { writeAtomically } from './files.js';
import { dirname, join } from 'node:path';
import { createEtcdClient } from '../common/etcd.js';
import { type HealthServerExtras, startHealthServer, startPeerServer } from '../common/health-server.js';
import { isLoopback } from '../common/address.js';
import { createLogger } from '../common/log.js';
import { exitOnSignals } from '../common/shutdown.js';
import { Haproxy } from './haproxy.js';
import { metricsText } from './metrics.js';
import { pageFiles } from './page-files.js';
import { pageLbsFromEnv, takeLbsView } from './page-lbs.js';
import { COOKIE_KEY, rendererOptionsFromEnv } from './options.js';
import { compileTemplate, hostport } from './render.js';
import { Renderer } from './renderer.js';
import { RuntimeChannel } from './runtime.js';
import { Snapshot } from './status-snapshot.js';
import { STREAMED_EVENTS, type StatusBody } from '../common/status.js';
import { EtcdStore } from '../common/store.js';

/** COOKIE_KEY, else the key kept beside the state file, else a new one kept there. */
function cookieKey(given: string | undefined, stateFile: string): string {
  if (given) return given;
  const path = join(dirname(stateFile), 'cookie-key');
  try {
    const kept = readFileSync(path, 'utf8').trim();
    if (COOKIE_KEY.test(kept)) return kept;
  } catch {
    // none yet
  }
  const key = randomBytes(24).toString('base64url');
  writeFileSync(path, `${key}\n`, { mode: 0o600 });
  return key;
}

let options;
let template;
let key;
try {
  options = rendererOptionsFromEnv(process.env);
  template = compileTemplate(readFileSync(options.templatePath, 'utf8'));
  key = cookieKey(options.cookieKey, options.stateFile);
} catch (err) {
  createLogger('renderer').fatal({ err }, 'bad options, template or cookie key');
  process.exit(2);
}
const o = options;
const log = createLogger('renderer', o.logLevel);
const etcd = createEtcdClient(o.etcd);
const haproxy = new Haproxy({ bin: o.haproxyBin, masterSocket: o.masterSocket, reloadTimeoutMs: o.reloadTimeoutMs });
const runtime = new RuntimeChannel({ socket: o.adminSocket, batchSize: o.runtimeBatch, timeoutMs: o.runtimeTimeoutMs });
// `/status` reads every server's stats (megabytes at 16,384 slots): on a connection of its own,
// so joins and leaves never wait behind it.
const statusRuntime = new RuntimeChannel({ socket: o.adminSocket, batchSize: o.runtimeBatch, timeoutMs: o.runtimeTimeoutMs });
const { rules, refresh } = await admissionRules(o);
// Beyond loopback whoever reaches the address is answered: /health only there.
const open = o.healthPort > 0 && (isLoopback(o.healthBind) || o.healthBind === 'localhost');
// The routes are structure: written once, before the first config that names the map.
await writeAtomically(o.routesMap, routesMapText(o.routes));
const renderer: Renderer = new Renderer(
  // The stats frontend serves the live page from the loopback endpoint, behind its password.
  { ...o, cookieKey: key, services: [...new Set(o.routes.map((r) => r.service))], admission: rules, ...(open && { pageServer: hostport(o.healthBind, o.healthPort) }) },
  // Values over the record limit are refused anyway: the store does not keep them.
  { store: new EtcdStore(etcd, { maxValueBytes: rules.maxValueBytes }), haproxy, runtime, statusRuntime, template },
);

// Each /events client listens to four events.
renderer.setMaxListeners(400);
renderer.on('store', (e) => {
  const line = { event: 'store', state: e.state, reason: e.reason, revision: e.revision, keys: e.keys, err: e.error?.message };
  if (e.state === 'synced') log.info(line, `listed ${e.keys} keys at revision ${e.revision}`);
  else if (e.state === 'held') log.warn(line, `list held: ${e.reason}`);
  else log.warn(line, 'etcd unreachable: keeping what HAProxy runs');
});
renderer.on('rejected', (e) => log.warn({ event: 'rejected', key: e.key, reason: e.reason }, e.message));
renderer.on('node', (e) => log.info({ event: 'node', ...e }, `node ${e.change}: ${e.service}/${e.id} ${e.address}:${e.port} in slot ${e.service}/${e.slot}`));
renderer.on('reconciled', (e) => (e.unconverged ? log.warn : log.info).call(log, { event: 'reconciled', ...e }, `runtime: ${e.changed} server(s) set, ${e.commands} command(s), ${e.drift} drift repaired, ${e.unconverged} still different, ${e.durationMs} ms`));
renderer.on('drift', (e) => log.warn({ event: 'drift', ...e }, `drift repaired: ${e.backend}/${e.server}${e.node ? ` (${e.node})` : ''} differed in ${e.fields.join(', ')}`));
renderer.on('reload', (e) => log.info({ event: 'reload', ...e }, `reload (${e.cause}): worker ${e.workerPid}, ${e.slots} slots, ${e.durationMs} ms`));
renderer.on('failStatic', (e) => log.warn({ event: 'fail-static', ...e }, `fail static: ${e.service} ${e.change} ${e.ids.join(', ')}: ${e.reason}`));
renderer.on('operator', (e) => log.info({ event: 'operator', ...e }, `operator: ${e.service}/${e.id} ${e.change}${e.weight !== undefined ? ` ${e.weight}` : ''}`));
renderer.on('mirror', (e) => log.debug({ event: 'mirror', ...e }, 'config on disk follows the slots'));
renderer.on('compared', (e) => log.debug({ event: 'compared', ...e }, `whole worker compared: ${e.servers} servers, ${e.durationMs} ms`));
renderer.on('refused', (e) =>
  log.error({ event: 'refused', stage: e.stage, err: e.error.message, output: 'output' in e.error ? e.error.output : undefined }, `${e.stage} refused: what HAProxy runs keeps serving`),
);

const version = await haproxy.version();

/** What /status takes from HAProxy, once a second at most (status-snapshot.ts). */
const STATUS_MAX_AGE_MS = 1000;
const statusSnapshot = new Snapshot(async (): Promise<StatusBody> => ({ haproxyVersion: version, ...renderer.status, backends: await renderer.slotViewsLive(), setAside: renderer.setAside() }), STATUS_MAX_AGE_MS);
// The page's LBs side by side: as the CLI here would ask them (the cluster sets LEASEHOLD_RENDERERS).
let lbsSnapshot: Snapshot<unknown> | undefined;
try {
  const lbs = pageLbsFromEnv(process.env);
  if (lbs) lbsSnapshot = new Snapshot(() => takeLbsView(lbs), 2000);
} catch (err) {
  log.warn({ event: 'page', err: (err as Error).message }, 'the live page goes without the other LBs');
}
let page: ReturnType<typeof pageFiles> | undefined;
try {
  page = pageFiles();
} catch (err) {
  log.warn({ event: 'page', err: (err as Error).message }, 'no live page: its files are missing beside the renderer');
}
const report = () => ({ healthy: renderer.healthy, body: { ...renderer.status } });
const metrics = () => metricsText(renderer.status);
const endpoints: HealthServerExtras = {
  status: () => statusSnapshot.get(),
  events: (send) => {
    const forward = (event: string) => (e: object) => send({ time: new Date().toISOString(), event, ...e });
    const subs = STREAMED_EVENTS.map((name) => [name, forward(name)] as const);
    for (const [name, fn] of subs) renderer.on(name, fn);
    return () => {
      for (const [name, fn] of subs) renderer.off(name, fn);
    };
  },
};

if (o.healthPort > 0) {
  startHealthServer(o.healthPort, report, open ? metrics : undefined, {
    host: o.healthBind,
    live: () => ({ healthy: renderer.live, body: { ...renderer.status } }),
    ...(open ? { ...endpoints, ...(page && { page }), ...(lbsSnapshot && { pageJson: { lbs: () => lbsSnapshot.get() } }) } : {}),
    onError: (err) => log.error({ event: 'health-server', err: err.message }, '/health cannot listen'),
  });
}

if (o.peerCert && o.peerKey && o.peerCa) {
  let lastRefusal = -Infinity;
  startPeerServer(
    o.peerPort,
    {
      ca: readFileSync(o.peerCa),
      cert: readFileSync(o.peerCert),
      key: readFileSync(o.peerKey),
      peerName: o.peerName,
      onRefused: (why, remote) => {
        // At most one line a second: a client knocking in a loop must not flood the log.
        if (performance.now() - lastRefusal < 1000) return;
        lastRefusal = performance.now();
        log.warn({ event: 'peer-refused', remote, why }, `peer endpoint: ${remote} refused (${why})`);
      },
    },
    report,
    metrics,
    { ...endpoints, onError: (err) => log.error({ event: 'peer-server', err: err.message }, 'the peer endpoint cannot listen') },
  );
}

// Peers and etcd's members may move (a restarted container, a new Swarm task): look them up again,
// and admit every record anew when an address changed.
setInterval(
  () =>
    void refresh().then(
      (changed) => changed && renderer.relist('admission addresses changed'),
      // Part of the rules may have changed before it failed: admit every record anew.
      () => renderer.relist('admission look-up failed'),
    ),
  o.lbPeersRefreshMs,
).unref();

log.info({ event: 'start', haproxy: version, config: o.configPath, template: o.templatePath, endpoints: o.etcd.endpoints, prefix: o.prefix }, 'renderer starting');
renderer.start();

exitOnSignals(log, 'stopping', async () => {
  const finished = await renderer.stop(5000);
  if (!finished) log.warn({ event: 'shutdown', timeoutMs: 5000 }, 'a pass was still running after 5 s: stopping anyway');
  etcd.close();
});
