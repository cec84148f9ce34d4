#!/usr/bin/env node
// Wires the registrar to the environment, etcd, signals and logs. It loads no etcd3, gRPC,
// pino or zod: the registrar runs in every webapp container, so its footprint counts N times.
// Images run the CommonJS build of this file (dist/cjs/, see scripts/build-registrar-cjs.mjs):
// no top-level await and no import.meta here.
import { hostname } from 'node:os';
import { ownAddress } from '../common/address.js';
import { type EtcdGateway, createEtcdGateway } from '../common/etcd-gateway.js';
import { startHealthServer } from '../common/health-server.js';
import { httpStatus } from '../common/http.js';
import { createLineLog } from '../common/line-log.js';
import { exitOnSignals } from '../common/shutdown.js';
import { type RegistrarOptions, registrarOptionsFromEnv } from './options.js';
import { Registrar } from './registrar.js';

async function main(): Promise<void> {
  let o: RegistrarOptions;
  let store: EtcdGateway;
  try {
    o = registrarOptionsFromEnv(process.env, hostname());
    store = await createEtcdGateway(o.etcd);
  } catch (err) {
    createLineLog('registrar').fatal({ event: 'bad-options', err }, 'bad options');
    process.exit(2);
  }
  const log = createLineLog('registrar', o.logLevel);
  const registrar = new Registrar(o, {
    store,
    appHealthy: async (signal) => {
      const status = await httpStatus(o.healthUrl, o.checkTimeoutMs, signal);
      return status >= 200 && status < 300;
    },
    ownAddress: () => ownAddress(o.advertiseNetworks),
  });

  registrar.on('state', (e) => log.info({ event: 'state', ...e }, `${e.previous} -> ${e.state}: ${e.reason}`));
  registrar.on('retry', (e) =>
    (e.retryable ? log.warn : log.error)({ event: 'retry', attempt: e.attempt, err: e.error, retryable: e.retryable, delayMs: e.delayMs }, 'registration attempt failed'),
  );
  registrar.on('check', (e) => {
    const what = `app check ${e.passed ? 'passed' : e.timedOut ? `failed (no answer in ${Math.round(e.durationMs)} ms)` : 'failed'}`;
    const msg = e.inRow > 0 ? `${what}: ${e.inRow} in a row, the node ${e.passed ? 'rejoins' : 'leaves'} at ${e.needed}`
      : `${what}: the node stays ${e.passed ? 'in' : 'out'}`;
    (e.passed ? log.info : log.warn)({ event: 'check', passed: e.passed, inRow: e.inRow, needed: e.needed, timedOut: e.timedOut, durationMs: Math.round(e.durationMs) }, msg);
  });
  registrar.on('keepaliveFailed', (e) => log.warn({ event: 'keepalive-failed', leaseId: e.leaseId, unconfirmedMs: e.unconfirmedMs, err: e.error }, 'keepalive got no answer'));
  registrar.on('repaired', (e) => log.warn({ event: 'repaired', found: e.found, leaseId: e.leaseId }, `record rewritten: ${e.found}`));
  registrar.on('revokeFailed', (e) => log.warn({ event: 'revoke-failed', leaseId: e.leaseId, err: e.error }, 'lease left to expire'));

  if (o.healthPort > 0) {
    startHealthServer(o.healthPort, () => ({
      healthy: registrar.healthy,
      body: { state: registrar.state, key: registrar.key, leaseId: registrar.leaseId ?? null },
    }));
  }

  let auto: string;
  try {
    auto = `auto (${ownAddress(o.advertiseNetworks)})`;
  } catch (err) {
    auto = `auto: ${(err as Error).message}`; // retried at each registration attempt
  }
  log.info(
    { event: 'start', key: registrar.key, address: o.address ?? auto, advertiseNetwork: o.advertiseNetworks, port: o.port, ttl: o.ttlSeconds, check: { intervalMs: o.checkIntervalMs, timeoutMs: o.checkTimeoutMs, fall: o.checkFall, rise: o.checkRise }, endpoints: o.etcd.endpoints, tls: !!o.etcd.tls, auth: !!o.etcd.auth },
    'registrar starting',
  );
  registrar.start();

  exitOnSignals(log, 'leaving', async () => {
    await registrar.stop();
    store.close();
  });
}

void main();
