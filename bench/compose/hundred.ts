// About 100 nodes on the compose stack, to read the renderer's memory there: 100 records on one
// lease, written with etcdctl inside the etcd container as an operator would, pointing at closed
// ports of a running webapp (their checks fail at once; they take no traffic). Revoking the lease
// removes them all.
import type { ComposeStack } from '../../harness/compose.js';
import { waitFor } from '../../harness/wait.js';

export async function withHundredNodes<T>(stack: ComposeStack, count: number, body: () => Promise<T>): Promise<T> {
  const [first] = await stack.containers('webapp');
  const ip = (await stack.webapp(first!.Id)).addr.split(':')[0]!;
  const lease = /lease ([0-9a-f]+) granted/.exec(await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'lease', 'grant', '600']))?.[1];
  if (!lease) throw new Error('etcdctl lease grant: no lease id');
  const script = [
    `for i in $(seq 1 ${count}); do`,
    `  v="{\\"id\\":\\"syn$i\\",\\"service\\":\\"webapp\\",\\"address\\":\\"${ip}\\",\\"port\\":$((4000 + i)),\\"tag\\":\\"syn$i\\",\\"weight\\":1,\\"state\\":\\"up\\",\\"registeredAt\\":\\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\\"}"`,
    `  etcdctl put --lease=${lease} /nodes/webapp/syn$i "$v" >/dev/null || exit 1`,
    'done',
  ].join('\n');
  await stack.compose(['exec', '-T', 'etcd', 'sh', '-c', script]);
  try {
    await waitFor(async () => (await stack.stats()).filter((r) => r.addr.startsWith(`${ip}:`) && r.addr !== `${ip}:3000` && r.status !== 'MAINT').length === count, `${count} extra nodes in HAProxy`, 60000, 500);
    return await body();
  } finally {
    await stack.compose(['exec', '-T', 'etcd', 'etcdctl', 'lease', 'revoke', lease]);
  }
}
