// What leasehold-registrar and leasehold-run share: a registrar wired to the environment, etcd
// and its logs. CommonJS in images (dist/cjs/): no top-level await, no import.meta.
import { ownAddress } from '../common/address.js';
import { type EtcdGateway, createEtcdGateway } from '../common/etcd-gateway.js';
import type { TlsMaterial } from '../common/http-post.js';
import type { Env } from '../common/env.js';
import { startHealthServer } from '../common/health-server.js';
import { type EventLog, createLineLog } from '../common/line-log.js';
import { appCheck } from './app-health.js';
import { type RegistrarOptions, registrarOptionsOrExit } from './options.js';
import { Registrar } from './registrar.js';

export interface Wired {
  o: RegistrarOptions;
  log: EventLog;
  store: EtcdGateway;
  registrar: Registrar;
}

/** Reads the options (exits 2 on bad ones, logged), connects, logs the registrar's events. Not started. */
export async function registrarFromEnv(env: Env, name: string): Promise<Wired> {
  const { o, tls } = registrarOptionsOrExit(env, name);
  try {
    return await wireRegistrar(o, tls, name);
  } catch (err) {
    createLineLog(name).fatal({ event: 'bad-options', err }, 'bad options');
    process.exit(2);
  }
}

/** Connects with options read already, logs the registrar's events. Not started. */
export async function wireRegistrar(o: RegistrarOptions, tls: TlsMaterial | undefined, name: string): Promise<Wired> {
  const store = await createEtcdGateway(o.etcd, tls);
  const log = createLineLog(name, o.logLevel);
  const registrar = new Registrar(o, {
    store,
    appHealthy: appCheck(o.healthUrl, o.checkTimeoutMs),
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
  registrar.on('waiting', (e) => log.warn({ event: 'waiting', forMs: Math.round(e.forMs), timedOut: e.timedOut }, `the app has not answered its check (${o.healthUrl}) for ${Math.round(e.forMs / 1000)} s${e.timedOut ? ': no answer in time' : ''}`));
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
    { event: 'start', key: registrar.key, address: o.address ?? auto, advertiseNetwork: o.advertiseNetworks, port: o.port, ttl: o.ttlSeconds, health: o.healthUrl, check: { intervalMs: o.checkIntervalMs, timeoutMs: o.checkTimeoutMs, fall: o.checkFall, rise: o.checkRise }, endpoints: o.etcd.endpoints, tls: !!o.etcd.tls, auth: !!o.etcd.auth },
    'registrar starting',
  );
  return { o, log, store, registrar };
}
