// Server-sent events framing (the WHATWG EventSource format), for the live page's feed.

/**
 * One event as an SSE message: `data:` lines, ended by a blank line. A line break in the text
 * starts another `data:` line (the browser joins them back with `\n`), so no value can end the
 * message early or forge a field.
 */
export function sseMessage(data: string): string {
  return `${data
    .split(/\r\n|\r|\n/)
    .map((l) => `data: ${l}\n`)
    .join('')}\n`;
}

/** A comment line: ignored by the browser, it keeps proxies' idle timeouts from cutting the stream. */
export const SSE_HEARTBEAT = ': heartbeat\n\n';

/** How long the browser waits before it reconnects a cut stream, ms (the stream's first line). */
export const SSE_RETRY = 'retry: 2000\n\n';
