#!/usr/bin/env node
// leasehold-registrar: registers this container's app beside it (s6 supervises both). It loads
// no etcd3, gRPC, pino or zod: the registrar runs in every webapp container, so its footprint
// counts N times. Images run the CommonJS build (dist/cjs/) or the bundle (dist/leasehold/).
import { exitOnSignals } from '../common/shutdown.js';
import { registrarFromEnv } from './daemon.js';

async function main(): Promise<void> {
  const { registrar, store, log } = await registrarFromEnv(process.env, 'registrar');
  registrar.start();
  exitOnSignals(log, 'leaving', async () => {
    await registrar.stop();
    store.close();
  });
}

void main();
