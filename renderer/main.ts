#!/usr/bin/env node
// Wires the renderer to the environment, etcd, HAProxy, signals and logs.
import { PeerAllowlist } from '../common/peer-allowlist.js';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { admissionRules, routesMapText } from './admission-rules.js';
import { writeAtomically } from './files.js';
import { dirname, join } from 'node:path';
import { createEtcdClient } from '../common/etcd.js';
import { startHealthServer } from '../common/health-server.js';
import { createLogger } from '../common/log.js';
import { exitOnSignals } from '../common/shutdown.js';
import { Haproxy } from './haproxy.js';
import { metricsText } from './metrics.js';
import { COOKIE_KEY, rendererOptionsFromEnv } from './options.js';
import { compileTemplate } from './render.js';
import { Renderer } from './renderer.js';
import { RuntimeChannel } from './runtime.js';
import { EtcdStore } from './store.js';

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
const { rules, refresh } = await admissionRules(o);
setInterval(() => void refresh(), 60000).unref();
// The routes are structure: written once, before the first config that names the map.
await writeAtomically(o.routesMap, routesMapText(o.routes));
const renderer: Renderer = new Renderer(
  { ...o, cookieKey: key, services: [...new Set(o.routes.map((r) => r.service))], admission: rules },
  { store: new EtcdStore(etcd), haproxy, runtime, template },
);

// Each /events client listens to four events.
renderer.setMaxListeners(400);
renderer.on('store', (e) => {
  const line = { event: 'store', state: e.state, reason: e.reason, revision: e.revision, keys: e.keys, err: e.error?.message };
  if (e.state === 'synced') log.info(line, `listed ${e.keys} keys at revision ${e.revision}`);
  else log.warn(line, 'etcd unreachable: keeping what HAProxy runs');
});
renderer.on('rejected', (e) => log.warn({ event: 'rejected', key: e.key, reason: e.reason }, e.message));
renderer.on('node', (e) => log.info({ event: 'node', ...e }, `node ${e.change}: ${e.service}/${e.id} ${e.address}:${e.port} in slot ${e.service}/${e.slot}`));
renderer.on('reconciled', (e) => (e.unconverged ? log.warn : log.info).call(log, { event: 'reconciled', ...e }, `runtime: ${e.changed} server(s) set, ${e.commands} command(s), ${e.drift} drift repaired, ${e.unconverged} still different, ${e.durationMs} ms`));
renderer.on('drift', (e) => log.warn({ event: 'drift', ...e }, `drift repaired: ${e.backend}/${e.server}${e.node ? ` (${e.node})` : ''} differed in ${e.fields.join(', ')}`));
renderer.on('reload', (e) => log.info({ event: 'reload', ...e }, `reload (${e.cause}): worker ${e.workerPid}, ${e.slots} slots, ${e.durationMs} ms`));
renderer.on('operator', (e) => log.info({ event: 'operator', ...e }, `operator: ${e.service}/${e.id} ${e.change}${e.weight !== undefined ? ` ${e.weight}` : ''}`));
renderer.on('mirror', (e) => log.debug({ event: 'mirror', ...e }, 'config on disk follows the slots'));
renderer.on('refused', (e) =>
  log.error({ event: 'refused', stage: e.stage, err: e.error.message, output: 'output' in e.error ? e.error.output : undefined }, `${e.stage} refused: what HAProxy runs keeps serving`),
);

const version = await haproxy.version();

if (o.healthPort > 0) {
  startHealthServer(
    o.healthPort,
    () => ({ healthy: renderer.healthy, body: { ...renderer.status } }),
    () => metricsText(renderer.status),
    {
      host: o.healthBind,
      ...(o.healthPeers.includes('*') ? {} : healthAllowlist(o.healthPeers, log)),
      status: async () => ({ haproxyVersion: version, ...renderer.status, backends: await renderer.slotViewsLive() }),
      events: (send) => {
        const forward = (event: string) => (e: object) => send({ time: new Date().toISOString(), event, ...e });
        const subs = (['node', 'drift', 'operator', 'reload'] as const).map((name) => [name, forward(name)] as const);
        for (const [name, fn] of subs) renderer.on(name, fn);
        return () => {
          for (const [name, fn] of subs) renderer.off(name, fn);
        };
      },
      onError: (err) => log.error({ event: 'health-server', err: err.message }, '/health cannot listen'),
    },
  );
}

log.info({ event: 'start', haproxy: version, config: o.configPath, template: o.templatePath, endpoints: o.etcd.endpoints, prefix: o.prefix }, 'renderer starting');
renderer.start();

exitOnSignals(log, 'stopping', async () => {
  const finished = await renderer.stop(5000);
  if (!finished) log.warn({ event: 'shutdown', timeoutMs: 5000 }, 'a pass was still running after 5 s: stopping anyway');
  etcd.close();
});

/** Loopback and the named peers only: a webapp on the same network gets no answer at all. */
function healthAllowlist(peers: string[], log: { warn: (o: object, msg: string) => void }) {
  const list = new PeerAllowlist(peers);
  let lastLogged = -Infinity;
  return {
    allow: (remote: string | undefined) => list.allows(remote),
    onRefused: (remote: string | undefined) => {
      // At most one line a second: a client knocking in a loop must not flood the log.
      if (performance.now() - lastLogged < 1000) return;
      lastLogged = performance.now();
      log.warn({ event: 'health-refused', remote, peers }, `connection from ${remote} refused: not loopback nor one of RENDERER_HEALTH_PEERS`);
    },
  };
}
