#!/usr/bin/env node
// `leasehold`: wires the command line, the environment, etcd, output and signals to a subcommand.
import { readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import type { Etcd3 } from 'etcd3';
import { createEtcdClient } from '../common/etcd.js';
import { type CliOptions, type Command, cliOptionsFromEnv, parseArgs, usage } from './args.js';
import type { Context } from './context.js';
import { drain, undrain } from './drain.js';
import { UsageError, exitCodeOf } from './errors.js';
import type { RendererTls } from './renderers.js';
import { OptionError } from '../common/errors.js';
import { OWN_SEQUENCES } from './format.js';
import { printableText } from './printable.js';
import { status } from './status.js';
import { CliStore } from './store.js';
import { watch } from './watch.js';
import { weight } from './weight.js';

/**
 * The output boundary: everything the CLI prints passes here. Only its own line breaks, tabs and
 * (on a coloured stdout) colours reach the terminal raw; any other control or bidi character, say
 * in an error that quotes what etcd or a renderer sent, is shown escaped.
 */
const write = (stream: NodeJS.WriteStream, text: string, colours: readonly string[] = []) => {
  const shown = printableText(text, colours);
  stream.write(shown.endsWith('\n') ? shown : `${shown}\n`);
};

// `leasehold status | head`: a closed pipe ends the command quietly.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

function run(cmd: Command, ctx: Context): Promise<number> {
  switch (cmd.name) {
    case 'help':
      ctx.out(usage(cmd.topic));
      return Promise.resolve(0);
    case 'status':
      return status(cmd, ctx);
    case 'drain':
      return drain(cmd, ctx);
    case 'undrain':
      return undrain(cmd, ctx);
    case 'weight':
      return weight(cmd, ctx);
    case 'watch':
      return watch(cmd, ctx);
  }
}

async function main(argv: string[]): Promise<number> {
  let cmd: Command;
  let options: CliOptions;
  let rendererTls: RendererTls | undefined;
  try {
    cmd = parseArgs(argv);
    let user = 'unknown';
    try {
      user = userInfo().username;
    } catch {
      // no passwd entry (an arbitrary container uid): LEASEHOLD_USER or USER names the operator
      user = process.env.USER ?? user;
    }
    options = cliOptionsFromEnv(process.env, user, hostname());
    const files = options.rendererTls;
    if (files) {
      const read = (path: string) => {
        try {
          return readFileSync(path);
        } catch (err) {
          throw new OptionError(`LEASEHOLD_RENDERER_*: ${(err as Error).message}`);
        }
      };
      rendererTls = { ca: read(files.caFile), cert: read(files.certFile), key: read(files.keyFile), name: files.name };
    }
  } catch (err) {
    write(process.stderr, `leasehold: ${(err as Error).message}`);
    if (err instanceof UsageError) write(process.stderr, `\n${usage(err.command)}`);
    return exitCodeOf(err);
  }

  const interrupt = new AbortController();
  if (cmd.name === 'watch' || (cmd.name === 'drain' && cmd.wait)) {
    // The first Ctrl-C ends `watch` (exit 0) or stops `drain --wait`; a second one ends it all.
    // Other commands keep Node's default: Ctrl-C ends them at once.
    process.on('SIGINT', () => {
      if (interrupt.signal.aborted) process.exit(130);
      interrupt.abort();
    });
  }
  let etcd: Etcd3 | undefined;
  let store: CliStore | undefined;
  const tty = process.stdout.isTTY === true;
  const look = { tty, color: tty && !options.noColor };
  const ctx: Context = {
    options,
    etcd: () => (etcd ??= createEtcdClient(options.etcd)),
    store: () => (store ??= new CliStore(ctx.etcd(), { endpoints: options.etcd.endpoints, nodesPrefix: options.nodesPrefix, operatorPrefix: options.operatorPrefix })),
    look,
    out: (text) => write(process.stdout, text, look.color ? OWN_SEQUENCES : []),
    err: (text) => write(process.stderr, text),
    now: Date.now,
    monotonic: () => performance.now(),
    interrupted: interrupt.signal,
    rendererTls,
  };
  try {
    return await run(cmd, ctx);
  } catch (err) {
    write(process.stderr, `leasehold: ${(err as Error).message}`);
    /** Set and not empty: an unexpected failure prints its stack too. Env `LEASEHOLD_DEBUG`. Default none. */
    if (exitCodeOf(err) === 1 && !(err as { retryable?: boolean }).retryable && process.env.LEASEHOLD_DEBUG) write(process.stderr, String((err as Error).stack));
    return exitCodeOf(err);
  } finally {
    etcd?.close();
  }
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
// gRPC may keep a timer or two alive for a moment after close(): nothing is left to do.
setTimeout(() => process.exit(code), 500).unref();
