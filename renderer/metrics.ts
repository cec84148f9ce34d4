import { histogramLines } from './histogram.js';
import type { RendererStatus } from './renderer.js';

type Sample = [labels: Record<string, string | number>, value: number];

function metric(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[]): string[] {
  const fmt = (l: Record<string, string | number>) => {
    const parts = Object.entries(l).map(([k, v]) => `${k}="${v}"`);
    return parts.length ? `{${parts.join(',')}}` : '';
  };
  return [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...samples.map(([l, v]) => `${name}${fmt(l)} ${v}`)];
}

/** The renderer's status as Prometheus text. */
export function metricsText(s: RendererStatus): string {
  const lines = [
    ...metric('leasehold_renderer_reloads_total', 'counter', 'Verified HAProxy reloads, by cause (services, pool, config). Membership never reloads.', Object.entries(s.reloads).map(([cause, n]) => [{ cause }, n])),
    ...metric('leasehold_renderer_refused_total', 'counter', 'Steps refused, by stage; what was serving kept serving.', Object.entries(s.refused).map(([stage, n]) => [{ stage }, n])),
    ...metric('leasehold_runtime_commands_total', 'counter', 'Runtime API commands, by result (sent, failed) and connection retries.', [
      [{ result: 'sent' }, s.runtime.sent],
      [{ result: 'failed' }, s.runtime.failed],
      [{ result: 'retried' }, s.runtime.retried],
      [{ result: 'refused' }, s.runtime.refusedAnswers],
    ]),
    ...metric('leasehold_renderer_queue_depth', 'gauge', 'Reconcile keys waiting in the work queue.', [[{}, s.queue.depth]]),
    ...metric('leasehold_renderer_queue_retries_total', 'counter', 'Reconciles retried with back-off after a failure (HAProxy unreachable, a refused reload, servers that did not converge).', [[{}, s.queue.retries]]),
    ...(s.lastFullSyncAgeSeconds === undefined ? [] : metric('leasehold_renderer_last_full_sync_age_seconds', 'gauge', 'Seconds since the whole worker was last compared with the store and found converged.', [[{}, s.lastFullSyncAgeSeconds]])),
    ...metric('leasehold_drift_repaired_total', 'counter', 'Servers found different from the store although nothing had changed, and put back.', [[{}, s.driftRepaired]]),
    ...metric('leasehold_reconcile_duration_seconds_sum', 'counter', 'Time spent reconciling HAProxy with the store.', [[{}, s.reconcile.totalMs / 1000]]),
    ...metric('leasehold_reconcile_duration_seconds_count', 'counter', 'Reconciles run.', [[{}, s.reconcile.count]]),
    ...metric('leasehold_reconcile_last_duration_seconds', 'gauge', 'Duration of the last reconcile.', [[{}, s.reconcile.lastMs / 1000]]),
    '# HELP leasehold_renderer_change_applied_seconds A change seen in etcd until HAProxy has it, verified, by pass: incremental (watched changes) or full (a list).',
    '# TYPE leasehold_renderer_change_applied_seconds histogram',
    ...histogramLines('leasehold_renderer_change_applied_seconds', { pass: 'incremental' }, s.changeApplied.incremental),
    ...histogramLines('leasehold_renderer_change_applied_seconds', { pass: 'full' }, s.changeApplied.full),
    ...metric('leasehold_slots', 'gauge', 'Server slots per backend, by state (used: a node or a leaving node; total: the pool).', s.slots.flatMap((p): Sample[] => [
      [{ backend: p.service, state: 'used' }, p.used],
      [{ backend: p.service, state: 'total' }, p.total],
    ])),
    ...metric('leasehold_renderer_nodes', 'gauge', 'Nodes in a server slot (in rotation or draining).', [[{}, s.nodes]]),
    ...metric('leasehold_renderer_pending_nodes', 'gauge', 'Nodes waiting for a structural change (a pool that has not grown yet).', [[{}, s.pending]]),
    ...metric('leasehold_renderer_rejected_records', 'gauge', 'Records under the prefix that failed validation.', [[{}, s.rejectedRecords]]),
    ...metric('leasehold_renderer_fail_static_held', 'gauge', 'Nodes lost without a graceful leave while too many of their service went at once: kept, HAProxy\'s checks decide.', [[{}, s.failStaticHeld]]),
    ...metric('leasehold_renderer_nodes_over_cap', 'gauge', 'Valid records refused because their service has more than MAX_NODES_PER_SERVICE, by service.', Object.entries(s.overCap).map(([service, n]) => [{ service }, n])),
    ...metric('leasehold_renderer_converged', 'gauge', '1 when the last reconcile left HAProxy as the store says.', [[{}, s.converged ? 1 : 0]]),
    ...metric('leasehold_renderer_etcd_connected', 'gauge', '1 while the watch on etcd is live.', [[{}, s.etcd === 'connected' ? 1 : 0]]),
    ...metric('leasehold_renderer_store_unsynced_seconds', 'gauge', 'Seconds since the store was last in sync (listed and watching); 0 while it is. /health fails past STORE_UNSYNCED_UNHEALTHY_MS.', [[{}, s.storeUnsyncedSeconds]]),
  ];
  return lines.join('\n') + '\n';
}
