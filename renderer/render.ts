import { isIP } from 'node:net';
import Handlebars from 'handlebars';
import { RenderError } from '../common/errors.js';
import type { NodeRecord } from '../common/record.js';

/** Settings the template sees beside the records. */
export interface RenderSettings {
  frontendBind: string;
  statsBind: string;
  defaultService: string;
  healthCheckPath: string;
  adminSocket: string;
  /** Where the renderer leaves server health for the next worker (`server-state-file`). */
  stateFile: string;
}

/**
 * Health-check and failover settings of every server: the shipped template's `default-server`
 * line, and the dynamic servers the runtime fast path adds, must agree.
 */
export const SERVER_CHECK = 'check inter 1s fall 2 rise 1 observe layer4 error-limit 1 on-error mark-down';

export interface TemplateServer extends NodeRecord {
  /** `address:port`, with IPv6 in brackets. */
  hostport: string;
  draining: boolean;
}

export interface TemplateService {
  name: string;
  isDefault: boolean;
  servers: TemplateServer[];
}

export interface TemplateContext extends RenderSettings {
  services: TemplateService[];
  /** {@link SERVER_CHECK} */
  serverCheck: string;
}

export type Template = (ctx: TemplateContext) => string;

/**
 * Compiles a Handlebars template. No HTML escaping: every value it sees was validated to a
 * safe character set, and escaping would corrupt config text.
 */
export function compileTemplate(source: string): Template {
  const t = Handlebars.create().compile<TemplateContext>(source, { noEscape: true, strict: true });
  return (ctx) => t(ctx);
}

export function hostport(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Groups sorted records into services; the default service is always there, even empty. */
export function templateContext(records: NodeRecord[], s: RenderSettings): TemplateContext {
  const byService = new Map<string, TemplateServer[]>([[s.defaultService, []]]);
  for (const r of records) {
    const list = byService.get(r.service) ?? [];
    list.push({ ...r, hostport: hostport(r.address, r.port), draining: r.state === 'draining' });
    byService.set(r.service, list);
  }
  const services = [...byService]
    .map(([name, servers]) => ({ name, isDefault: name === s.defaultService, servers }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { ...s, services, serverCheck: SERVER_CHECK };
}

/** records in, config text out. */
export function render(template: Template, records: NodeRecord[], s: RenderSettings): string {
  try {
    return template(templateContext(records, s));
  } catch (err) {
    throw new RenderError(`template failed: ${(err as Error).message}`, { cause: err });
  }
}
