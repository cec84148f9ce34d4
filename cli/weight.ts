// `leasehold weight <service>/<id> <0..256>` and `--reset`: the operator's weight over the registrar's.
import { weightValue } from '../common/operator.js';
import type { Command } from './args.js';
import type { Context } from './context.js';
import { requireRegistered } from './drain.js';
import { readNode } from './report.js';

export async function weight(cmd: Extract<Command, { name: 'weight' }>, ctx: Context): Promise<number> {
  const store = ctx.store();
  const node = `${cmd.node.service}/${cmd.node.id}`;
  const key = store.key('weight', cmd.node);
  const registrar = async () => {
    const key = store.nodeKey(cmd.node);
    const value = await store.get(key);
    return value === null ? undefined : readNode(ctx.options.nodesPrefix, { key, value })?.record?.weight;
  };
  if (cmd.weight === 'reset') {
    if (await store.delete(key)) {
      const w = await registrar();
      ctx.out(`weight of ${node} reset: the registrar's weight${w === undefined ? '' : ` (${w})`} applies`);
      return 0;
    }
    if (!cmd.force) await requireRegistered(ctx, cmd.node);
    ctx.out(`${node} had no weight override`);
    return 0;
  }
  if (!cmd.force) await requireRegistered(ctx, cmd.node);
  await store.put(key, weightValue(cmd.weight, new Date(ctx.now()), ctx.options.who));
  const w = await registrar();
  ctx.out(`weight of ${node} set to ${cmd.weight}${w === undefined ? '' : ` (its registrar asks for ${w})`}${cmd.weight === 0 ? ': no new requests' : ''}`);
  return 0;
}
