import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import Handlebars from 'handlebars';
import { RenderError } from '../common/errors.js';
import { STRUCTURE_VAR } from './runtime-state.js';
import { type Pool, type Structure, servedBy } from './slots.js';

/** Settings the template sees beside the pools. */
export interface RenderSettings {
  frontendBind: string;
  statsBind: string;
  defaultService: string;
  healthCheckPath: string;
  /** Per-service paths instead of `healthCheckPath` (HEALTH_CHECK_PATHS), for apps that answer elsewhere. */
  healthCheckPaths?: { service: string; path: string }[];
  adminSocket: string;
  /** Where the renderer leaves server health for the next worker (`server-state-file`). */
  stateFile: string;
  /** Secret behind the sticky cookies (`dynamic-cookie-key`): LBs sharing it share cookies. */
  cookieKey: string;
  /** How long an old worker may keep serving its requests after a reload. */
  hardStopAfter: string;
  /** HAProxy's `maxconn`. */
  maxconn: number;
  /** Which requests HAProxy logs to its standard output: `errors`, `all` or `off`. */
  requestLog?: 'errors' | 'all' | 'off';
  /** HAProxy's `timeout connect`. */
  connectTimeout: string;
  /** The map file of Host names to services (ROUTES), one lookup per request. */
  routesMap: string;
  /** What the map holds (it is structure: another map is another config). */
  routes: { host: string; service: string }[];
  /**
   * `address:port` of the renderer's loopback endpoint, when the stats frontend is to serve its
   * live page under `/leasehold/` (behind the stats page's password). Unset: no page.
   */
  pageServer?: string;
}

/** Health-check and failover settings of every server (the shipped template's `default-server`). */
export const SERVER_CHECK = 'check inter 1s fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down';

/** Where a slot with no node points: never used, as such a slot is always in maintenance. */
export const FREE_SLOT_ADDRESS = '127.0.0.1:1';

export interface TemplateSlot {
  /** Server name: `s1`, `s2`, ... */
  name: string;
  /** `address:port` (IPv6 in brackets); {@link FREE_SLOT_ADDRESS} when no node sits here. */
  hostport: string;
  weight: number;
  /** No node here: render the server `disabled`. */
  disabled: boolean;
  /** The node here, as `service/id` (and `draining`), for a comment. */
  node?: string;
}

export interface TemplateService {
  name: string;
  isDefault: boolean;
  /** The path HAProxy checks on this service's servers. */
  checkPath: string;
  slots: TemplateSlot[];
}

export interface TemplateContext extends RenderSettings {
  services: TemplateService[];
  /** {@link SERVER_CHECK} */
  serverCheck: string;
  /** The config sets {@link structureVar} to this: it tells which structure a worker runs. */
  structureId: string;
  /** `proc.leasehold_structure` */
  structureVar: string;
  /** REQUEST_LOG=errors: log only failed, retried or redispatched requests. */
  requestLogErrorsOnly?: boolean;
}

export interface Template {
  (ctx: TemplateContext): string;
  /** Hash of the template's source: part of every structure id. */
  readonly id: string;
}

/**
 * Compiles a Handlebars template. No HTML escaping: every value it sees was validated to a
 * safe character set, and escaping would corrupt config text.
 */
export function compileTemplate(source: string): Template {
  const t = Handlebars.create().compile<TemplateContext>(source, { noEscape: true, strict: true });
  return Object.assign((ctx: TemplateContext) => t(ctx), { id: sha(source) });
}

export function hostport(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Names one structure: the template, the settings and every pool's size. Equal ids render
 * configs that differ at most in which node sits in which slot, which the runtime API sets.
 */
export function structureId(template: Template, s: RenderSettings, structure: Structure): string {
  return sha(JSON.stringify([template.id, s, structure])).slice(0, 16);
}

/** The template's view of the pools: nodes in rotation or draining; every other slot free. */
export function templateContext(pools: Pool[], s: RenderSettings, id: string): TemplateContext {
  const services = pools.map((p) => ({
    name: p.service,
    isDefault: p.service === s.defaultService,
    checkPath: s.healthCheckPaths?.find((c) => c.service === p.service)?.path ?? s.healthCheckPath,
    slots: p.slots.map((slot): TemplateSlot => {
      const n = servedBy(slot);
      // A draining node renders with weight 0, which keeps only its sticky sessions: the same
      // as the runtime's drain state, should HAProxy start from this file without its state file.
      return n
        ? { name: slot.name, hostport: hostport(n.address, n.port), weight: slot.state === 'drain' ? 0 : n.weight, disabled: false, node: `${n.service}/${n.id}${slot.state === 'drain' ? ' draining' : ''}` }
        : { name: slot.name, hostport: FREE_SLOT_ADDRESS, weight: 1, disabled: true };
    }),
  }));
  return { ...s, services, serverCheck: SERVER_CHECK, structureId: id, structureVar: STRUCTURE_VAR, ...(s.requestLog === 'errors' && { requestLogErrorsOnly: true }) };
}

/** Pools in, config text out. */
export function render(template: Template, pools: Pool[], s: RenderSettings, id: string): string {
  try {
    return template(templateContext(pools, s, id));
  } catch (err) {
    throw new RenderError(`template failed: ${(err as Error).message}`, { cause: err });
  }
}

function sha(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
