import type { EventLog } from './line-log.js';

/**
 * On SIGTERM or SIGINT: log, run `stop`, then exit 0 (1 if stop failed). Only a daemon's
 * main.ts calls this: it owns the process.
 */
export function exitOnSignals(log: Pick<EventLog, 'info' | 'error'>, what: string, stop: () => Promise<void>): void {
  const shutdown = async (signal: string) => {
    log.info({ event: 'signal', signal }, what);
    try {
      await stop();
      process.exit(0);
    } catch (err) {
      log.error({ event: 'shutdown-failed', err: (err as Error).message }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
