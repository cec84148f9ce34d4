/**
 * Time as the registrar sees it; tests pass a fake one and move it by hand. Two clocks: every
 * interval, deadline and timeout runs on the monotonic one, so a step of the wall clock (NTP, a
 * VM resumed, an operator) neither stalls the keepalives nor fires them all at once; the wall
 * clock only dates what people read.
 */
export interface Clock {
  /** Milliseconds on a clock that never steps (performance.now()), from an arbitrary origin. */
  monotonic(): number;
  /** Milliseconds since the epoch (Date.now()): only for timestamps people read, such as `registeredAt`. */
  wall(): number;
  /** Resolves after `ms` of monotonic time, or as soon as `signal` aborts; `ms` may be Infinity. Never rejects. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

export const systemClock: Clock = {
  monotonic: () => performance.now(),
  wall: () => Date.now(),
  // Node's timers run on libuv's monotonic loop time, not on the wall clock.
  sleep(ms, signal) {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      // setTimeout fires after 1 ms for a delay past 2^31 - 1 ms (Infinity included): clamp it.
      const timer = setTimeout(done, Math.min(Math.max(0, ms), MAX_TIMEOUT_MS));
      signal?.addEventListener('abort', done, { once: true });
    });
  },
};
