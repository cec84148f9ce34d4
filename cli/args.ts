// The command line and the environment in, one typed command and options out. Pure: no I/O.
import { type EtcdOptions, etcdOptionsFromEnv } from '../common/etcd.js';
import { type Env, list, str } from '../common/env.js';
import { OptionError } from '../common/errors.js';
import { DEFAULT_OPERATOR_PREFIX } from '../common/operator.js';
import { NAME_PATTERN, normalizePrefix } from '../common/record.js';
import { UsageError } from './errors.js';

/** Where the CLI's peer credentials are (main.ts reads them). */
export interface RendererTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The Common Name an `https://` renderer's certificate must carry. Env `LEASEHOLD_RENDERER_NAME`. Default `leasehold-renderer-peer`. */
  name: string;
}

/** A node as the operator names it: `<service>/<id>`. */
export interface NodeRef {
  service: string;
  id: string;
}

export type Command =
  | { name: 'help'; topic?: string }
  | { name: 'status'; service?: string; json: boolean; renderers?: string[] }
  | { name: 'drain'; node: NodeRef; wait: boolean; timeoutMs: number; force: boolean; renderers?: string[] }
  | { name: 'undrain'; node: NodeRef; force: boolean }
  | { name: 'weight'; node: NodeRef; weight: number | 'reset'; force: boolean }
  | { name: 'watch'; json: boolean; renderers?: string[] };

export type CommandName = Exclude<Command['name'], 'help'>;

/** What the CLI reads from the environment, once, in main.ts. */
export interface CliOptions {
  /** etcd endpoints, deadlines (and TLS/auth once common/etcd.ts has them): passed through whole. */
  etcd: EtcdOptions;
  /** Where registrars write records. Env `NODES_PREFIX`. Default `/nodes/`. */
  nodesPrefix: string;
  /** Where operator keys live. Env `OPERATOR_PREFIX`. Default `/leasehold/`. */
  operatorPrefix: string;
  /**
   * Renderers' HTTP endpoints (`/status`, `/events`) for `status`, `drain --wait` and `watch`;
   * `--renderer URL` (repeatable) wins; `https://` for a peer endpoint. In the ha image: its own
   * renderer. The renderer reads it too, for its live page: the LBs it puts side by side (with
   * the `LEASEHOLD_RENDERER_*` certificate; none below two). Env `LEASEHOLD_RENDERERS`,
   * comma-separated. Default `http://127.0.0.1:8405`.
   */
  renderers: string[];
  /**
   * For `https://` renderers (their peer endpoint, mutual TLS): the CA, our certificate and key
   * (PEM files), all three or none. Env `LEASEHOLD_RENDERER_CA`, `LEASEHOLD_RENDERER_CERT`,
   * `LEASEHOLD_RENDERER_KEY`. Default none.
   */
  rendererTls?: RendererTlsFiles;
  /** Env `NO_COLOR` set and not empty: no colour even on a terminal (https://no-color.org). */
  noColor: boolean;
  /** Who writes an operator key (its `by` field). Env `LEASEHOLD_USER`. Default `<user>@<host>` (the user `sudo` was run by, if any). */
  who: string;
}

export const DEFAULT_RENDERER = 'http://127.0.0.1:8405';

/** `user` and `host`: the caller's login and host name (main.ts passes os.userInfo() and os.hostname()). */
export function cliOptionsFromEnv(env: Env, user: string, host: string): CliOptions {
  const nodesPrefix = normalizePrefix(str(env, 'NODES_PREFIX', '/nodes/'));
  const operatorPrefix = normalizePrefix(str(env, 'OPERATOR_PREFIX', DEFAULT_OPERATOR_PREFIX));
  if (operatorPrefix.startsWith(nodesPrefix) || nodesPrefix.startsWith(operatorPrefix)) {
    throw new OptionError('OPERATOR_PREFIX and NODES_PREFIX must not contain one another: operator keys are never node records');
  }
  let renderers: string[];
  try {
    renderers = list(env, 'LEASEHOLD_RENDERERS', [DEFAULT_RENDERER]).map(rendererUrl);
  } catch (err) {
    throw new OptionError(`LEASEHOLD_RENDERERS: ${(err as Error).message}`);
  }
  return {
    etcd: etcdOptionsFromEnv(env),
    nodesPrefix,
    operatorPrefix,
    renderers,
    ...optional('rendererTls', rendererTlsFromEnv(env)),
    noColor: (env.NO_COLOR ?? '') !== '',
    who: str(env, 'LEASEHOLD_USER', `${str(env, 'SUDO_USER', user)}@${host}`),
  };
}

const optional = <K extends string, V>(k: K, v: V | undefined) => (v === undefined ? {} : ({ [k]: v } as Record<K, V>));

export function rendererTlsFromEnv(env: Env): RendererTlsFiles | undefined {
  const files = { caFile: str(env, 'LEASEHOLD_RENDERER_CA', ''), certFile: str(env, 'LEASEHOLD_RENDERER_CERT', ''), keyFile: str(env, 'LEASEHOLD_RENDERER_KEY', '') };
  if (!files.caFile && !files.certFile && !files.keyFile) return undefined;
  if (!files.caFile || !files.certFile || !files.keyFile) throw new OptionError('LEASEHOLD_RENDERER_CA, LEASEHOLD_RENDERER_CERT and LEASEHOLD_RENDERER_KEY go together: set all three or none');
  return { ...files, name: str(env, 'LEASEHOLD_RENDERER_NAME', 'leasehold-renderer-peer') };
}

/** A renderer's base URL: `host:port` means `http://host:port`; no trailing slash. */
export function rendererUrl(raw: string): string {
  const s = raw.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `http://${s}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new UsageError(`${JSON.stringify(raw)} is not a renderer URL such as http://127.0.0.1:8405`);
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || !url.host) throw new UsageError(`${JSON.stringify(raw)} is not an http:// or https:// URL`);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** `60s`, `500ms`, `2m`, `1h`, or a number of seconds, as ms. */
export function parseDuration(raw: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw new UsageError(`${JSON.stringify(raw)} is not a duration such as 60s, 500ms or 2m`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (ms < 1 || ms > 24 * 3600000) throw new UsageError(`${raw}: a duration from 1ms to 24h`);
  return Math.round(ms);
}

/** `<service>/<id>`, both names as registrars write them. */
export function parseNodeRef(raw: string, command: string): NodeRef {
  const parts = raw.split('/');
  if (parts.length !== 2 || !NAME_PATTERN.test(parts[0]!) || !NAME_PATTERN.test(parts[1]!)) {
    throw new UsageError(`${JSON.stringify(raw)} is not a node: expected <service>/<id> (names of [A-Za-z0-9_.-]), e.g. webapp/3f2c9a1b7d10`, command);
  }
  return { service: parts[0]!, id: parts[1]! };
}

/** An HAProxy weight: an integer from 0 to 256. */
export function parseWeight(raw: string, command = 'weight'): number {
  if (!/^\d{1,3}$/.test(raw) || Number(raw) > 256) throw new UsageError(`${JSON.stringify(raw)} is not a weight: an integer from 0 to 256`, command);
  return Number(raw);
}

type FlagKind = 'bool' | 'value' | 'multi';

interface Spec {
  flags: Record<string, FlagKind>;
  /** Positional arguments accepted, at least and at most. */
  positionals: [number, number];
  usage: string;
}

const RENDERER_HELP = `  --renderer URL   a renderer's HTTP endpoint (repeatable; default: env LEASEHOLD_RENDERERS, else ${DEFAULT_RENDERER})`;

export const SPECS: Record<CommandName, Spec> = {
  status: {
    flags: { json: 'bool', renderer: 'multi' },
    positionals: [0, 1],
    usage: `usage: leasehold status [service] [--json] [--renderer URL]...

One row per node: service, node id, address:port, slot, etcd state (up, draining; drained by an
operator), HAProxy state, sessions, weight (effective; "(override)" when an operator set it),
lease TTL left, age; then each backend's totals. With several renderers, one HAProxy column per
load balancer (LB1, LB2, ...) and "LBs differ" where they disagree. With no renderer reachable,
only what etcd says, and a note. Aligned and coloured on a terminal; tab-separated and plain on
a pipe (and no colour when NO_COLOR is set).

  --json           the same as one JSON document
${RENDERER_HELP}`,
  },
  drain: {
    flags: { wait: 'bool', timeout: 'value', force: 'bool', renderer: 'multi' },
    positionals: [1, 1],
    usage: `usage: leasehold drain <service>/<id> [--wait] [--timeout 60s] [--force] [--renderer URL]...

Drains a node: HAProxy sends it no new sessions (sticky ones finish) while its container keeps
running. Writes <OPERATOR_PREFIX>drain/<service>/<id>; the drain outlives re-registrations of
the node and goes only with "leasehold undrain".

  --wait           return once every renderer shows the node in DRAIN with 0 sessions
  --timeout D      how long --wait waits (60s; also 500ms, 2m); exit 6 when it runs out
  --force          write the key even if the node is not registered in etcd
${RENDERER_HELP}`,
  },
  undrain: {
    flags: { force: 'bool' },
    positionals: [1, 1],
    usage: `usage: leasehold undrain <service>/<id> [--force]

Puts a drained node back in rotation: deletes <OPERATOR_PREFIX>drain/<service>/<id>. A node that
is not registered (any more) may still be undrained while its drain key exists.

  --force          delete the key even if neither the node nor its drain is known`,
  },
  weight: {
    flags: { reset: 'bool', force: 'bool' },
    positionals: [1, 2],
    usage: `usage: leasehold weight <service>/<id> <0..256> [--force]
       leasehold weight <service>/<id> --reset

Overrides the weight the node's registrar asks for (canaries: 0 sends it no new requests).
Writes <OPERATOR_PREFIX>weight/<service>/<id>; --reset deletes it and the registrar's weight
applies again.

  --reset          remove the override
  --force          write (or delete) the key even if the node is not registered in etcd`,
  },
  watch: {
    flags: { json: 'bool', renderer: 'multi' },
    positionals: [0, 0],
    usage: `usage: leasehold watch [--json] [--renderer URL]...

Prints one line per event, live, until interrupted (Ctrl-C exits 0): nodes joined, left or
changed, drained and undrained, weights set and reset, drift repaired, reloads. Reads the
renderers' /events; with none reachable, watches etcd (nodes and operator keys) and says so.

  --json           one JSON object per line, as the renderer sends it (plus "renderer")
${RENDERER_HELP}`,
  },
};

export const MAIN_USAGE = `usage: leasehold <command> [options]

  status [service]              nodes, slots, HAProxy's state, sessions, weights, leases
  drain <service>/<id>          no new sessions to a node (--wait: until its sessions end)
  undrain <service>/<id>        back in rotation
  weight <service>/<id> <0..256>  an operator weight (--reset removes it)
  watch                         joins, leaves, drains, weights, drift, reloads, live
  help [command]                this, or a command's options

Every command takes --help. Environment: ETCD_ENDPOINTS (http://127.0.0.1:2379),
ETCD_TIMEOUT_MS, ETCD_DIAL_TIMEOUT_MS, NODES_PREFIX (/nodes/), OPERATOR_PREFIX (/leasehold/),
LEASEHOLD_RENDERERS (${DEFAULT_RENDERER}), LEASEHOLD_USER (who drained: <user>@<host>), NO_COLOR.

Exit codes: 0 done; 1 failed; 2 bad arguments; 3 etcd unreachable; 4 no permission in etcd;
5 unknown node; 6 --wait timed out.`;

/** The usage text of `command`, or the main one. */
export function usage(command?: string): string {
  return command && command in SPECS ? SPECS[command as CommandName].usage : MAIN_USAGE;
}

/**
 * Parses the arguments after `leasehold`. `--flag value` and `--flag=value`; `--` ends the
 * flags; `-h`/`--help` anywhere asks for the command's usage.
 * @throws UsageError naming the command whose usage applies.
 */
export function parseArgs(argv: readonly string[]): Command {
  const [first, ...rest] = argv;
  if (first === undefined) throw new UsageError('no command given');
  if (first === '-h' || first === '--help' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    if (topic !== undefined && !(topic in SPECS)) throw new UsageError(`no such command: ${topic}`);
    return { name: 'help', topic };
  }
  if (!(first in SPECS)) throw new UsageError(first.startsWith('-') ? `a command comes first, before ${first}` : `no such command: ${first}`);
  const name = first as CommandName;
  const spec = SPECS[name];
  const bools = new Set<string>();
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  let flagsDone = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (flagsDone || !arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      flagsDone = true;
      continue;
    }
    if (arg === '-h' || arg === '--help') return { name: 'help', topic: name };
    const m = /^--([a-z][a-z-]*)(?:=(.*))?$/s.exec(arg);
    const flag = m?.[1];
    const kind = flag === undefined ? undefined : spec.flags[flag];
    if (!m || !flag || !kind) throw new UsageError(`${name}: unknown option ${arg.split('=')[0]}`, name);
    if (kind === 'bool') {
      if (m[2] !== undefined) throw new UsageError(`${name}: --${flag} takes no value`, name);
      bools.add(flag);
      continue;
    }
    let value = m[2];
    if (value === undefined) {
      value = rest[++i];
      if (value === undefined) throw new UsageError(`${name}: --${flag} needs a value`, name);
    }
    if (kind === 'value' && values.has(flag)) throw new UsageError(`${name}: --${flag} given twice`, name);
    values.set(flag, [...(values.get(flag) ?? []), value]);
  }
  const [min, max] = spec.positionals;
  if (positionals.length < min) throw new UsageError(`${name}: ${min === 1 ? 'a node <service>/<id> is' : 'arguments are'} missing`, name);
  if (positionals.length > max) throw new UsageError(`${name}: unexpected argument ${JSON.stringify(positionals[max])}`, name);
  const renderers = values.has('renderer') ? values.get('renderer')!.flatMap((v) => v.split(',')).filter((v) => v.trim()).map((v) => withCommand(name, () => rendererUrl(v))) : undefined;

  switch (name) {
    case 'status': {
      const service = positionals[0];
      if (service !== undefined && !NAME_PATTERN.test(service)) throw new UsageError(`status: ${JSON.stringify(service)} is not a service name`, name);
      return { name, service, json: bools.has('json'), renderers };
    }
    case 'drain': {
      const timeout = values.get('timeout')?.[0];
      if (timeout !== undefined && !bools.has('wait')) throw new UsageError('drain: --timeout goes with --wait', name);
      return {
        name,
        node: parseNodeRef(positionals[0]!, name),
        wait: bools.has('wait'),
        timeoutMs: timeout === undefined ? 60000 : withCommand(name, () => parseDuration(timeout)),
        force: bools.has('force'),
        renderers,
      };
    }
    case 'undrain':
      return { name, node: parseNodeRef(positionals[0]!, name), force: bools.has('force') };
    case 'weight': {
      const node = parseNodeRef(positionals[0]!, name);
      const reset = bools.has('reset');
      if (reset && positionals.length > 1) throw new UsageError('weight: either a weight or --reset, not both', name);
      if (!reset && positionals.length < 2) throw new UsageError('weight: a weight from 0 to 256 (or --reset) is missing', name);
      return { name, node, weight: reset ? 'reset' : parseWeight(positionals[1]!), force: bools.has('force') };
    }
    case 'watch':
      return { name, json: bools.has('json'), renderers };
  }
}

/** Re-throws a UsageError with the command it belongs to, so its usage is printed. */
function withCommand<T>(command: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof UsageError && !err.command) throw new UsageError(`${command}: ${err.message}`, command);
    throw err;
  }
}
