import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { KV } from '../../common/store.js';
import type { RenderSettings } from '../../renderer/render.js';
import { type AdmissionRules, DEFAULT_RULES } from '../../common/admission.js';

/** test/ in the source tree (tests run from dist/test/). */
export const TEST_SRC = fileURLToPath(new URL('../../../test/', import.meta.url));

/** Fixed settings so expected files do not depend on the machine. */
export const FIXTURE_SETTINGS: RenderSettings = {
  frontendBind: '*:80',
  statsBind: '*:1936',
  defaultService: 'webapp',
  healthCheckPath: '/health',
  adminSocket: '/run/haproxy/admin.sock',
  stateFile: '/run/haproxy/server-state',
  cookieKey: 'fixture-cookie-key',
  hardStopAfter: '5m',
  maxconn: 4096,
  requestLog: 'errors',
  connectTimeout: '100ms',
  routesMap: '/etc/haproxy/routes.map',
  routes: [{ host: 'api.example.com', service: 'api' }],
  pageServer: '127.0.0.1:8405',
};

/** Admission as the renderer applies it, but fixtures carry no leases. */
export const FIXTURE_RULES: AdmissionRules = { ...DEFAULT_RULES, requireLease: false };

/** A fixture is a list of etcd keys and values; object values are stored as their JSON. */
export function loadFixture(name: string): KV[] {
  const raw = JSON.parse(readFileSync(`${TEST_SRC}fixtures/${name}.json`, 'utf8')) as { key: string; value: unknown }[];
  return raw.map(({ key, value }) => ({ key, value: typeof value === 'string' ? value : JSON.stringify(value) }));
}

export function fixtureNames(): string[] {
  return readdirSync(`${TEST_SRC}fixtures`).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}
