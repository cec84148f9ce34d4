import type { AdmissionRules } from '../common/admission.js';
import type { NodeStore } from '../common/store.js';
import type { Haproxy } from './haproxy.js';
import type { RenderSettings, Template } from './render.js';
import type { RuntimeChannel } from './runtime.js';
import type { SlotOptions } from './slots.js';

export interface RendererConfig extends RenderSettings, Omit<SlotOptions, 'services'> {
  prefix: string;
  /** Where operator keys live (drains, weights). */
  operatorPrefix: string;
  configPath: string;
  coalesceMinMs: number;
  coalesceMaxMs: number;
  resyncIntervalMs: number;
  reconcileIntervalMs: number;
  /** Longest a leaving slot waits for its sessions before it may take another node, ms. */
  leaveMaxMs: number;
  /** Quiet time before the config on disk follows membership changes, ms (at least 10 checks' time). */
  mirrorDelayMs: number;
  /** How long a suspicious list (another etcd, an older revision, most nodes gone) is held, ms. */
  holdMs: number;
  /** Fail static (desired.ts): the share of a service, the window and the longest hold of nodes lost without a graceful leave. */
  failStaticShare: number;
  failStaticWindowMs: number;
  failStaticMaxMs: number;
  /** Services that always have a backend: the default one and the ROUTES targets. */
  services: string[];
  /** What records must satisfy to reach HAProxy. */
  admission: AdmissionRules;
  /** Records served per service at most; the excess is refused and reported. */
  maxNodesPerService: number;
  /** `/health` is unhealthy once the store has been out of sync (not listed and watching) this long, ms. */
  storeUnsyncedUnhealthyMs: number;
}

export interface RendererDeps {
  store: NodeStore;
  haproxy: Pick<Haproxy, 'check' | 'reload' | 'showProc'>;
  runtime: Pick<RuntimeChannel, 'run'> & { counts?: RuntimeChannel['counts'] };
  /** Where `/status` reads HAProxy's stats, apart from membership's commands. Default `runtime`. */
  statusRuntime?: Pick<RuntimeChannel, 'run'>;
  template: Template;
  /** Milliseconds on a clock that never steps, for holds, timers and durations. Default performance.now(). */
  monotonic?: () => number;
  /** Milliseconds since the epoch, only for the times `/status` shows. Default Date.now(). */
  wall?: () => number;
}

/** The render settings out of the renderer's config (what the template and the structure id see). */
export function renderSettings(c: RendererConfig): RenderSettings {
  const { frontendBind, statsBind, defaultService, healthCheckPath, healthCheckPaths, adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, requestLog, connectTimeout, routesMap, routes, pageServer } = c;
  return { frontendBind, statsBind, defaultService, healthCheckPath, ...(healthCheckPaths?.length && { healthCheckPaths }), adminSocket, stateFile, cookieKey, hardStopAfter, maxconn, ...(requestLog !== 'off' && { requestLog }), connectTimeout, routesMap, routes, ...(pageServer && { pageServer }) };
}
