import pino from 'pino';
import { terminalSafe } from './line-log.js';

export type Logger = pino.Logger;

/** One JSON line per event on stdout, named after the daemon. */
export function createLogger(name: string, level = 'info', destination?: pino.DestinationStream): Logger {
  return pino(
    { name, level, base: { name }, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    safe(destination ?? pino.destination({ dest: 1, sync: true })),
  );
}

/** Every line through {@link terminalSafe}: what a hostile record puts in a log is shown, not obeyed. */
function safe(out: pino.DestinationStream): pino.DestinationStream {
  return { write: (line: string) => out.write(terminalSafe(line)) };
}
