/**
 * A seeded generator (mulberry32): pauses between changes are irregular, so changes land at any
 * phase of the renderer's timers (reconcile every 5 s, config mirror after 1 s of quiet), and the
 * same on every run.
 */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
