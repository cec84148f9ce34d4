import { type Proc, REGISTRAR_MAIN, node } from './process.js';
import { freePort } from './ports.js';

export interface App {
  tag: string;
  port: number;
  app: Proc;
  registrar: Proc;
}

/** A real webapp process plus its registrar, advertising 127.0.0.1:<port> under id = tag. */
export async function startApp(tag: string, etcdEndpoint: string, env: Record<string, string> = {}): Promise<App> {
  const port = await freePort();
  const app = node(`app ${tag}`, 'images/webapp/server.js', { PORT: String(port), TAG: tag, DRAIN_MS: '500' });
  const registrar = node(`registrar ${tag}`, REGISTRAR_MAIN, {
    ETCD_ENDPOINTS: etcdEndpoint,
    PORT: String(port),
    NODE_ID: tag,
    TAG: tag,
    ADVERTISE_ADDRESS: '127.0.0.1',
    REGISTRAR_HEALTH_PORT: '0',
    LEASE_TTL: '2',
    CHECK_INTERVAL_MS: '200',
    ...env,
  });
  return { tag, port, app, registrar };
}

export async function stopApp(a: App): Promise<void> {
  await Promise.all([a.registrar.stop(), a.app.stop()]);
}
