// Pauses between changes are irregular but seeded, so changes land at any phase of the
// renderer's timers (reconcile every 5 s, config mirror after 1 s of quiet), and the same on every run.
export { seeded } from '../harness/random.js';
