#!/usr/bin/env node
// The per-host agent: `leasehold-agent`. Watches this host's Docker engine and registers every
// running container labelled `leasehold.service` (and `leasehold.port`) for the services it holds
// credentials for. It needs the Docker socket, which is root on the host: see docs/deploy.md,
// "Bring your own app" for that trade-off against the registrar inside the container.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Env, int, list, str } from '../common/env.js';
import { createEtcdGateway, type EtcdGateway } from '../common/etcd-gateway.js';
import { etcdOptionsFromEnv } from '../common/etcd-options.js';
import { OptionError } from '../common/errors.js';
import { startHealthServer } from '../common/health-server.js';
import { createLineLog } from '../common/line-log.js';
import { NAME_PATTERN } from '../common/record-format.js';
import { exitOnSignals } from '../common/shutdown.js';
import { Agent } from './agent.js';
import { DockerSocket } from './docker-engine.js';
import { registrarOptionsFromEnv } from './options.js';

/**
 * etcd as `registrar-<service>`: its certificate and password from `<dir>/<service>/` (the pki
 * job's registrar-<service> volume mounted there); without that folder, the environment's.
 */
function etcdEnvFor(env: Env, dir: string, service: string): Env {
  const d = join(dir, service);
  let password: string;
  try {
    password = readFileSync(join(d, 'password'), 'utf8').trim();
  } catch {
    return env;
  }
  if (!password) throw new OptionError(`${join(d, 'password')} is empty`);
  return { ...env, ETCD_CERT: join(d, 'registrar.pem'), ETCD_KEY: join(d, 'registrar-key.pem'), ETCD_USERNAME: `registrar-${service}`, ETCD_PASSWORD: password };
}

// The agent's own options (it also reads the registrar's, for what every registration shares:
// LEASE_TTL, CHECK_*, NODES_PREFIX, ETCD_ENDPOINTS, ETCD_CA, REGISTRAR_HEALTH_PORT for its /health).
/** The services this agent may register (it needs their credentials); required. Env `AGENT_SERVICES`, comma-separated. Default none. */
/** Folder of the services' credentials: `<service>/registrar.pem`, `registrar-key.pem`, `password` (a service's pki volume). Env `AGENT_CREDENTIALS`. Default `/etc/leasehold/agent`. */
/** Which containers it looks after: `label=value,...`, or `host` for every container of the engine. Env `AGENT_SCOPE`. Default: its own compose project's (`com.docker.compose.project=<its project>`). */
/** Networks whose addresses it may advertise. Env `AGENT_NETWORKS`, comma-separated. Default: the networks of its own container. */
/** Period of a full list of the containers beside the event stream, ms. Env `AGENT_RESYNC_MS`. Default 30000. */
/** The Docker engine's socket (root on the host: only the agent's container mounts it). Env `DOCKER_SOCKET`. Default `/var/run/docker.sock`. */

async function main(): Promise<void> {
  const env = process.env;
  const boot = createLineLog('agent');
  let services: string[];
  let stores: Map<string, EtcdGateway>;
  let base: ReturnType<typeof registrarOptionsFromEnv>;
  try {
    services = list(env, 'AGENT_SERVICES', []);
    if (!services.length) throw new OptionError('AGENT_SERVICES: name the services this agent registers (it needs their credentials)');
    for (const s of services) if (!NAME_PATTERN.test(s)) throw new OptionError(`AGENT_SERVICES: ${JSON.stringify(s)} must match ${NAME_PATTERN.source}`);
    base = registrarOptionsFromEnv(env, hostname());
    const dir = str(env, 'AGENT_CREDENTIALS', '/etc/leasehold/agent');
    stores = new Map();
    for (const s of services) stores.set(s, await createEtcdGateway(etcdOptionsFromEnv(etcdEnvFor(env, dir, s))));
  } catch (err) {
    boot.fatal({ event: 'bad-options', err }, 'bad options');
    process.exit(2);
  }
  const log = createLineLog('agent', base.logLevel);
  const engine = new DockerSocket(str(env, 'DOCKER_SOCKET', '/var/run/docker.sock'));
  const scopeEnv = str(env, 'AGENT_SCOPE', '');
  const networksEnv = list(env, 'AGENT_NETWORKS', []);
  let scope: string[];
  let networks: string[];
  if (scopeEnv && networksEnv.length) {
    scope = scopeEnv === 'host' ? [] : list(env, 'AGENT_SCOPE', []);
    networks = networksEnv;
  } else {
    // Unless told both, it looks after its own compose project and advertises on its own
    // networks: what its own container says. Never a guess that widens to the whole host.
    let self;
    try {
      self = await engine.inspect(hostname());
    } catch (err) {
      log.fatal({ event: 'bad-options', err }, 'the Docker engine does not answer: retried at the next start');
      process.exit(1);
    }
    const project = self?.labels['com.docker.compose.project'];
    if (!self || (!scopeEnv && !project)) {
      log.fatal({ event: 'bad-options' }, self ? 'its container is not in a compose project: set AGENT_SCOPE (label=value, or host)' : `no container named ${hostname()} on this engine (a hostname set by hand?): set AGENT_SCOPE and AGENT_NETWORKS`);
      process.exit(2);
    }
    scope = scopeEnv === 'host' ? [] : scopeEnv ? list(env, 'AGENT_SCOPE', []) : [`com.docker.compose.project=${project}`];
    networks = networksEnv.length ? networksEnv : Object.keys(self.networks).sort();
  }
  const agent = new Agent(
    { base, services, scope, networks, resyncMs: int(env, 'AGENT_RESYNC_MS', 30000, 1000, 3600000) },
    { engine, storeFor: (s) => stores.get(s)! },
  );
  agent.on('node', (e) => log.info({ event: 'node', ...e }, `${e.container}: ${e.change === 'watching' ? `watching for ${e.service}/${e.id} at ${e.address}:${e.port}` : `left (${e.why})`}`));
  agent.on('refused', (e) => log.warn({ event: 'refused', ...e }, `${e.container} not registered: ${e.reason}`));
  agent.on('engine', (e) => (e.state === 'connected' ? log.info : log.warn)({ event: 'engine', state: e.state, err: e.error, delayMs: e.delayMs }, e.state === 'connected' ? 'watching the Docker engine' : 'Docker engine lost: records kept, retrying'));
  agent.on('registrar', (x) => {
    if (x.name === 'state') log.info({ event: 'state', container: x.container, ...x.e }, `${x.container}: ${x.e.previous} -> ${x.e.state}: ${x.e.reason}`);
    else if (x.name === 'retry') log.warn({ event: 'retry', container: x.container, attempt: x.e.attempt, err: x.e.error, delayMs: x.e.delayMs }, `${x.container}: registration attempt failed`);
    else if (!x.e.passed) log.warn({ event: 'check', container: x.container, inRow: x.e.inRow, needed: x.e.needed, timedOut: x.e.timedOut }, `${x.container}: check failed`);
  });
  if (base.healthPort > 0) {
    startHealthServer(base.healthPort, () => ({ healthy: agent.connected, body: { engine: agent.connected ? 'connected' : 'lost', nodes: agent.watching, refused: agent.refused } }));
  }
  log.info({ event: 'start', services, scope, networks, ttl: base.ttlSeconds, endpoints: base.etcd.endpoints }, 'agent starting');
  agent.start();
  exitOnSignals(log, 'agent stopping: leases left to expire (a new agent takes them over)', async () => {
    await agent.abandon();
    for (const s of stores.values()) s.close();
  });
}

void main();
