// One routed service of a compose stack, seen as the e2e tests of `labelled` (the agent) and
// `static` (the bundle) see it: its running containers by node id, its records in etcd, the two
// converged, and keep-alive and fresh-connection load through the LB for its Host.
import type { ComposeStack } from '../../harness/compose.js';
import { type LoadOptions, startLoad } from '../../harness/load.js';
import { waitFor } from '../../harness/wait.js';

export function routedService(stack: ComposeStack, service: string, host: string) {
  /** Running containers by node id: the container id's first 12 characters (Docker's default hostname). */
  const running = async (): Promise<Map<string, string>> => new Map((await stack.containers(service)).map((c) => [c.Id.slice(0, 12), c.Id]));
  const records = () => stack.recordsOf(service);
  return {
    running,
    records,
    /** etcd's records are exactly the running containers, all in rotation in HAProxy. */
    async converged(timeoutMs = 30000): Promise<string[]> {
      let last = '';
      return waitFor(async () => {
        const want = [...(await running()).keys()].sort();
        const ids = (await records()).map((r) => r.id).sort();
        const up = (await stack.stats(service)).filter((r) => r.status === 'UP').length;
        last = `containers ${want}, records ${ids}, UP ${up}`;
        return want.length && JSON.stringify(ids) === JSON.stringify(want) && up === want.length ? want : undefined;
      }, `${service} converged (last: ${last})`, timeoutMs, 250);
    },
    load(extra: Partial<LoadOptions> = {}) {
      return {
        'keep-alive GET': startLoad(stack.url, { rps: 30, clients: 10, host, path: '/who', maxSeconds: 60, ...extra }),
        'fresh-connection GET': startLoad(stack.url, { rps: 10, mode: 'fresh', host, path: '/who', maxSeconds: 60, ...extra }),
      };
    },
    scale: (n: number) => stack.compose(['up', '-d', '--no-build', '--no-recreate', '--scale', `${service}=${n}`, service]),
  };
}
