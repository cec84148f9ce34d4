#!/usr/bin/env node
// Wires the renderer to the environment, etcd, HAProxy, signals and logs.
import { readFileSync } from 'node:fs';
import { createEtcdClient } from '../common/etcd.js';
import { startHealthServer } from '../common/health-server.js';
import { createLogger } from '../common/log.js';
import { exitOnSignals } from '../common/shutdown.js';
import { Haproxy } from './haproxy.js';
import { metricsText } from './metrics.js';
import { rendererOptionsFromEnv } from './options.js';
import { compileTemplate } from './render.js';
import { Renderer } from './renderer.js';
import { EtcdStore } from './store.js';

let options;
let template;
try {
  options = rendererOptionsFromEnv(process.env);
  template = compileTemplate(readFileSync(options.templatePath, 'utf8'));
} catch (err) {
  createLogger('renderer').fatal({ err }, 'bad options or template');
  process.exit(2);
}
const o = options;
const log = createLogger('renderer', o.logLevel);
const etcd = createEtcdClient(o.etcd);
const renderer = new Renderer(o, {
  store: new EtcdStore(etcd),
  haproxy: new Haproxy({ bin: o.haproxyBin, masterSocket: o.masterSocket, reloadTimeoutMs: o.reloadTimeoutMs }),
  template,
});

renderer.on('store', (e) => {
  const line = { event: 'store', state: e.state, reason: e.reason, revision: e.revision, keys: e.keys, err: e.error?.message };
  if (e.state === 'synced') log.info(line, `listed ${e.keys} keys at revision ${e.revision}`);
  else log.warn(line, 'etcd unreachable: keeping the last good config');
});
renderer.on('rejected', (e) => log.warn({ event: 'rejected', key: e.key, reason: e.reason }, e.message));
renderer.on('node', (e) => log.info({ event: 'node', ...e }, `node ${e.change}: ${e.service}/${e.id} ${e.address}:${e.port}`));
renderer.on('runtime', (e) => (e.ok ? log.info : log.warn).call(log, { event: 'runtime', ...e }, `${e.service}/${e.id} ${e.change === 'left' ? 'out of' : 'into'} rotation via the runtime API${e.ok ? '' : ` failed: ${e.error}`}`));
renderer.on('applied', (e) => log.info({ event: 'reload', ...e }, `reload done: ${e.servers} servers, worker ${e.workerPid}, ${e.passMs} ms`));
renderer.on('refused', (e) => log.error({ event: 'refused', stage: e.stage, err: e.error.message, output: 'output' in e.error ? e.error.output : undefined }, `${e.stage} refused: the last good config keeps serving`));

if (o.healthPort > 0) {
  startHealthServer(
    o.healthPort,
    () => {
      const s = renderer.status;
      return { healthy: s.lastAppliedAt !== undefined, body: { ...s } };
    },
    () => metricsText(renderer.status),
  );
}

log.info({ event: 'start', config: o.configPath, template: o.templatePath, endpoints: o.etcd.endpoints, prefix: o.prefix }, 'renderer starting');
renderer.start();

exitOnSignals(log, 'stopping', async () => {
  await renderer.stop();
  etcd.close();
});
