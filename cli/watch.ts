// `leasehold watch`: the renderers' events, live; etcd's changes when no renderer answers.
import { normalizePrefix } from '../common/record.js';
import { EtcdStore, type WatchEvent as StoreEvent, type WatchHandle } from '../common/store.js';
import type { Command } from './args.js';
import { type Context, pause } from './context.js';
import { formatEvent, formatEventJson } from './format.js';
import { followEvents } from './renderers.js';
import { type WatchEvent, etcdChange } from './report.js';
import { etcdFailure } from './store.js';

export async function watch(cmd: Extract<Command, { name: 'watch' }>, ctx: Context): Promise<number> {
  const urls = cmd.renderers ?? ctx.options.renderers;
  const print = (e: WatchEvent, source: { label?: string; renderer?: string }) =>
    ctx.out(cmd.json ? formatEventJson(e, source) : formatEvent(e, { label: source.label, color: ctx.look.color, now: ctx.now() }));

  const first = urls.map((url, i) => ({ url, label: urls.length > 1 ? `LB${i + 1}` : undefined, stream: followEvents(url, (e) => print(e, { label: urls.length > 1 ? `LB${i + 1}` : undefined, renderer: url }), undefined, ctx.rendererTls) }));
  const opened = await Promise.all(first.map((f) => f.stream.opened));
  if (!opened.some((o) => o.ok)) {
    const why = first.map((f, i) => `${f.url}: ${(opened[i] as { error: string }).error}`).join('; ');
    ctx.err(`note: no renderer reachable (${why}): watching etcd directly (${ctx.options.nodesPrefix}, ${ctx.options.operatorPrefix}); HAProxy's side (slots, drift repaired, reloads) is not shown`);
    return watchEtcd(ctx, print);
  }
  ctx.err(`following events from ${first.filter((_, i) => opened[i]!.ok).map((f) => `${f.label ? `${f.label} ` : ''}${f.url}`).join(', ')}`);
  first.forEach((f, i) => {
    if (!opened[i]!.ok) ctx.err(`note: ${f.label ?? ''} ${f.url} unreachable (${(opened[i] as { error: string }).error}): retrying in the background`.replace('  ', ' '));
    void follow(f, ctx, print, opened[i]!.ok ? f.stream : undefined);
  });
  await new Promise<void>((resolve) => (ctx.interrupted.aborted ? resolve() : ctx.interrupted.addEventListener('abort', () => resolve())));
  return 0;
}

/** Keeps one renderer's stream open until interrupted, reconnecting (1 s, up to 5 s apart) when it drops. */
async function follow(
  f: { url: string; label?: string },
  ctx: Context,
  print: (e: WatchEvent, source: { label?: string; renderer?: string }) => void,
  current: ReturnType<typeof followEvents> | undefined,
): Promise<void> {
  let delay = 1000;
  let stream = current;
  const stop = () => stream?.close();
  ctx.interrupted.addEventListener('abort', stop);
  while (!ctx.interrupted.aborted) {
    if (stream) {
      const why = await stream.ended;
      if (ctx.interrupted.aborted) break;
      ctx.err(`note: ${f.label ? `${f.label} ` : ''}${f.url}: events stream ended (${why}); reconnecting`);
      delay = 1000;
    }
    await pause(delay, ctx.interrupted);
    if (ctx.interrupted.aborted) break;
    stream = followEvents(f.url, (e) => print(e, { label: f.label, renderer: f.url }), undefined, ctx.rendererTls);
    const o = await stream.opened;
    if (o.ok) ctx.err(`note: ${f.label ? `${f.label} ` : ''}${f.url}: following events again`);
    else {
      stream = undefined;
      delay = Math.min(delay * 2, 5000);
    }
  }
  ctx.interrupted.removeEventListener('abort', stop);
  stream?.close();
}

/**
 * No renderer: list both prefixes, watch each from the revision after its list, and re-list
 * after a broken watch (compaction, disconnect), printing what changed meanwhile.
 */
async function watchEtcd(ctx: Context, print: (e: WatchEvent, source: { label?: string; renderer?: string }) => void): Promise<number> {
  const store = new EtcdStore(ctx.etcd());
  const prefixes = { nodes: normalizePrefix(ctx.options.nodesPrefix), operator: normalizePrefix(ctx.options.operatorPrefix) };
  const known = new Map<string, string>();
  const emit = (e: StoreEvent) => {
    for (const ev of etcdChange(prefixes, known, e.type === 'put' ? { type: 'put', key: e.key, value: e.value } : e, new Date(ctx.now()).toISOString())) print(ev, {});
  };
  const handles = new Map<string, WatchHandle>();

  /** Lists `prefix`; the first time silently, later as the changes missed; then watches on. */
  const sync = async (prefix: string, quiet: boolean): Promise<void> => {
    let snap;
    try {
      snap = await store.list(prefix);
    } catch (err) {
      throw etcdFailure((err as Error).cause ?? err, `read ${prefix}`, ctx.options.etcd.endpoints);
    }
    const now = new Map(snap.kvs.map((kv) => [kv.key, kv.value]));
    if (quiet) for (const [k, v] of now) known.set(k, v);
    else {
      for (const k of [...known.keys()]) if (k.startsWith(prefix) && !now.has(k)) emit({ type: 'delete', key: k });
      for (const [k, v] of now) if (known.get(k) !== v) emit({ type: 'put', key: k, value: v });
    }
    const handle = await store.watch(prefix, snap.revision + 1n, {
      events: (events) => events.forEach(emit),
      broken: (err) => {
        if (ctx.interrupted.aborted) return;
        ctx.err(`note: etcd watch on ${prefix} broken (${err.message}): listing again`);
        void again(prefix);
      },
    });
    handles.set(prefix, handle);
  };
  const again = async (prefix: string) => {
    for (let delay = 500; !ctx.interrupted.aborted; delay = Math.min(delay * 2, 5000)) {
      try {
        await sync(prefix, false);
        return;
      } catch (err) {
        ctx.err(`note: ${(err as Error).message}; retrying`);
        await pause(delay, ctx.interrupted);
      }
    }
  };

  await sync(prefixes.nodes, true);
  await sync(prefixes.operator, true);
  ctx.err(`watching etcd: ${[...known.keys()].filter((k) => k.startsWith(prefixes.nodes)).length} nodes registered`);
  await new Promise<void>((resolve) => (ctx.interrupted.aborted ? resolve() : ctx.interrupted.addEventListener('abort', () => resolve())));
  await Promise.all([...handles.values()].map((h) => h.cancel()));
  return 0;
}
