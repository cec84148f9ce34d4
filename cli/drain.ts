// `leasehold drain` and `leasehold undrain`: the operator's drain key, and waiting for its effect.
import { drainValue, parseOperatorValue } from '../common/operator.js';
import type { Command, NodeRef } from './args.js';
import { type Context, pause } from './context.js';
import { RendererUnreachableError, UnknownNodeError, WaitTimeoutError } from './errors.js';
import { formatAge } from './format.js';
import { fetchAll } from './renderers.js';
import { drainDone } from './report.js';

const name = (n: NodeRef) => `${n.service}/${n.id}`;

/** Refuses a node etcd does not know (a typo would otherwise drain nothing, silently). */
export async function requireRegistered(ctx: Context, node: NodeRef): Promise<void> {
  const r = await ctx.store().registered(node);
  if (!r.registered) throw new UnknownNodeError(name(node), r.ids);
}

export async function drain(cmd: Extract<Command, { name: 'drain' }>, ctx: Context): Promise<number> {
  const store = ctx.store();
  if (!cmd.force) await requireRegistered(ctx, cmd.node);
  const key = store.key('drain', cmd.node);
  const existing = await store.get(key);
  const kept = existing === null ? undefined : parseOperatorValue('drain', existing);
  if (kept?.ok) {
    // Drained already: the first drain's time and author stay.
    const since = kept.value.at ? ` since ${kept.value.at}${kept.value.by ? ` by ${kept.value.by}` : ''}` : '';
    ctx.out(`${name(cmd.node)} is already drained${since}`);
  } else {
    await store.put(key, drainValue(new Date(ctx.now()), ctx.options.who));
    ctx.out(`drained ${name(cmd.node)}: no new sessions; sticky sessions finish (${key})`);
  }
  if (!cmd.wait) return 0;
  return waitDrained(cmd, ctx);
}

/** Polls the renderers' `/status` until the node is in DRAIN with no session on every one of them. */
async function waitDrained(cmd: Extract<Command, { name: 'drain' }>, ctx: Context): Promise<number> {
  const urls = cmd.renderers ?? ctx.options.renderers;
  const started = ctx.monotonic();
  let last = '';
  let reached = false;
  for (;;) {
    const replies = await fetchAll(urls, 2000, ctx.rendererTls);
    reached ||= replies.some((r) => r.status);
    const { done, progress } = drainDone(replies, cmd.node.service, cmd.node.id);
    if (progress !== last && !done) {
      ctx.err(`waiting: ${progress}`);
      last = progress;
    }
    if (done) {
      ctx.out(`${name(cmd.node)} drained: DRAIN, 0 sessions after ${formatAge((ctx.monotonic() - started) / 1000)}`);
      return 0;
    }
    if (ctx.interrupted.aborted) {
      ctx.err(`interrupted: the drain stays (leasehold undrain ${name(cmd.node)} reverses it)`);
      return 130;
    }
    if (ctx.monotonic() - started >= cmd.timeoutMs) {
      if (!reached) throw new RendererUnreachableError(`the drain is written, but no renderer answered to wait on (${replies.map((r) => `${r.url}: ${r.error}`).join('; ')})`);
      throw new WaitTimeoutError(`${name(cmd.node)} not drained after ${formatAge(cmd.timeoutMs / 1000)}: ${progress} (the drain stays)`);
    }
    await pause(Math.min(250, Math.max(0, started + cmd.timeoutMs - ctx.monotonic())), ctx.interrupted);
  }
}

export async function undrain(cmd: Extract<Command, { name: 'undrain' }>, ctx: Context): Promise<number> {
  const store = ctx.store();
  const key = store.key('drain', cmd.node);
  if (await store.delete(key)) {
    ctx.out(`undrained ${name(cmd.node)}: back in rotation`);
    return 0;
  }
  if (!cmd.force) await requireRegistered(ctx, cmd.node);
  ctx.out(`${name(cmd.node)} was not drained`);
  return 0;
}
