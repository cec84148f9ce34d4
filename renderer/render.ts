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
  return { ...s, services };
}

/** records in, config text out. */
export function render(template: Template, records: NodeRecord[], s: RenderSettings): string {
  try {
    return template(templateContext(records, s));
  } catch (err) {
    throw new RenderError(`template failed: ${(err as Error).message}`, { cause: err });
  }
}
