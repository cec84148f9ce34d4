#!/usr/bin/env node
// Wires the registrar to the environment, etcd, signals and logs.
import { hostname } from 'node:os';
import { ownAddress } from '../common/address.js';
import { createEtcdClient } from '../common/etcd.js';
import { startHealthServer } from '../common/health-server.js';
import { httpStatus } from '../common/http.js';
import { createLogger } from '../common/log.js';
import { exitOnSignals } from '../common/shutdown.js';
import { registrarOptionsFromEnv } from './options.js';
import { Registrar } from './registrar.js';

let options;
try {
  options = registrarOptionsFromEnv(process.env, hostname());
} catch (err) {
  createLogger('registrar').fatal({ err }, 'bad options');
  process.exit(2);
}
const o = options;
const log = createLogger('registrar', o.logLevel);
const etcd = createEtcdClient(o.etcd);
const timeout = Math.min(o.checkIntervalMs, 2000);
const registrar = new Registrar(o, {
  etcd,
  appHealthy: async () => {
    const status = await httpStatus(o.healthUrl, timeout);
    return status >= 200 && status < 300;
  },
  ownAddress,
});

registrar.on('state', (e) => log.info({ event: 'state', ...e }, `${e.previous} -> ${e.state}: ${e.reason}`));
registrar.on('retry', (e) => log.warn({ event: 'retry', attempt: e.attempt, err: e.error.message }, 'registration attempt failed'));

if (o.healthPort > 0) {
  startHealthServer(o.healthPort, () => ({
    healthy: registrar.state === 'registered',
    body: { state: registrar.state, key: registrar.key },
  }));
}

log.info({ event: 'start', key: registrar.key, address: o.address ?? `auto (${ownAddress()})`, port: o.port, ttl: o.ttlSeconds, endpoints: o.etcd.endpoints }, 'registrar starting');
registrar.start();

exitOnSignals(log, 'leaving', async () => {
  await registrar.stop();
  etcd.close();
});
