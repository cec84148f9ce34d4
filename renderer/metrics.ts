import type { RendererStatus } from './renderer.js';

/** The renderer's status as Prometheus text. */
export function metricsText(s: RendererStatus): string {
  const lines = [
    '# HELP leasehold_renderer_reloads_total Verified HAProxy reloads.',
    '# TYPE leasehold_renderer_reloads_total counter',
    `leasehold_renderer_reloads_total ${s.reloads}`,
    '# HELP leasehold_renderer_refused_total Passes refused, by stage; the last good config kept serving.',
    '# TYPE leasehold_renderer_refused_total counter',
    ...Object.entries(s.refused).map(([stage, n]) => `leasehold_renderer_refused_total{stage="${stage}"} ${n}`),
    '# HELP leasehold_renderer_nodes Servers in the live config.',
    '# TYPE leasehold_renderer_nodes gauge',
    `leasehold_renderer_nodes ${s.nodes}`,
    '# HELP leasehold_renderer_rejected_records Records under the prefix that failed validation.',
    '# TYPE leasehold_renderer_rejected_records gauge',
    `leasehold_renderer_rejected_records ${s.rejectedRecords}`,
    '# HELP leasehold_renderer_etcd_connected 1 while the watch on etcd is live.',
    '# TYPE leasehold_renderer_etcd_connected gauge',
    `leasehold_renderer_etcd_connected ${s.etcd === 'connected' ? 1 : 0}`,
  ];
  return lines.join('\n') + '\n';
}
