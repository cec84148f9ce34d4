// A JSON line logger with pino's line format (`{"level":"info","time":...,"name":...,...,"msg":...}`)
// for the registrar, which cannot afford pino's few MB. The renderer keeps pino (common/log.ts).
import { writeSync } from 'node:fs';
import { OptionError } from './errors.js';

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity } as const;
export type LogLevel = keyof typeof LEVELS;

/** Checks a `LOG_LEVEL` value. @throws OptionError on an unknown level. */
export function logLevel(value: string): LogLevel {
  if (!Object.hasOwn(LEVELS, value)) throw new OptionError(`LOG_LEVEL=${JSON.stringify(value)}: expected one of ${Object.keys(LEVELS).join(', ')}`);
  return value as LogLevel;
}

type LogFn = (fields: Record<string, unknown>, msg: string) => void;

/** The logging both daemons' shells use: one call per event, fields first, then a message. */
export interface EventLog {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  fatal: LogFn;
}

/**
 * What JSON leaves raw that a terminal acts on when `docker logs` prints a line: DEL, the C1
 * controls (U+009B is a CSI in one character) and the bidirectional controls, which reorder
 * what follows them. A record's key or value can carry them into a log line (a webapp writes
 * its record). JSON.stringify already escapes the C0 controls.
 */
const RAW_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A JSON line with those characters as `\uXXXX` escapes: the same JSON, shown not obeyed. */
export function terminalSafe(line: string): string {
  return line.replace(RAW_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Errors become `{type, message, code?}`: JSON.stringify would print `{}`. */
function plain(v: unknown): unknown {
  if (!(v instanceof Error)) return v;
  const code = (v as { code?: unknown }).code;
  return { type: v.name, message: v.message, ...(code !== undefined ? { code } : {}) };
}

/**
 * One JSON line per event on stdout (written synchronously: a line is never lost to an exit
 * right after it), named after the daemon.
 */
export function createLineLog(name: string, level: LogLevel = 'info', write: (line: string) => void = (line) => writeSync(1, line)): EventLog {
  const at = (label: Exclude<LogLevel, 'silent'>): LogFn => {
    if (LEVELS[label] < LEVELS[level]) return () => {};
    return (fields, msg) => {
      const out: Record<string, unknown> = { level: label, time: new Date().toISOString(), name };
      for (const [k, v] of Object.entries(fields)) out[k] = plain(v);
      out.msg = msg;
      try {
        write(terminalSafe(JSON.stringify(out)) + '\n');
      } catch {
        // stdout gone (EPIPE) or full: logging never takes the daemon down.
      }
    };
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), fatal: at('fatal') };
}
