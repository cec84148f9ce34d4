// The few calls of Docker's Engine API the per-host agent needs, over its unix socket with
// node:http: a list, an inspect and the event stream. No client library: dockerode and its
// dependencies would more than double what the agent loads.
import { request } from 'node:http';

/** A container as the agent sees it. */
export interface ContainerView {
  id: string;
  /** Without the leading slash. */
  name: string;
  /** `Config.Hostname` when inspected (the node id), else unset. */
  hostname?: string;
  labels: Record<string, string>;
  /** IP address per network name. */
  networks: Record<string, string>;
  /** Docker's health status when the image has a HEALTHCHECK: `starting`, `healthy`, `unhealthy`. */
  health?: string;
  /** The signal `docker stop` sends it (its image's STOPSIGNAL), when inspected. */
  stopSignal?: string;
}

/** One container event: `start`, `die`, `stop`, `destroy`, `health_status: healthy`... */
export interface ContainerEvent {
  id: string;
  action: string;
  /** With `kill`: the signal sent. */
  signal?: string;
}

export interface EventStream {
  /** Resolves when the stream ends (dockerd restarted, socket closed); never rejects. */
  ended: Promise<Error>;
  close(): void;
}

export interface DockerEngine {
  /** Running containers carrying every one of `labels` (`key` or `key=value`). */
  list(labels: string[]): Promise<ContainerView[]>;
  /** One container, or undefined when it is gone. */
  inspect(id: string): Promise<ContainerView | undefined>;
  /** Container events for containers carrying every one of `labels`, from now on. */
  events(labels: string[], onEvent: (e: ContainerEvent) => void): Promise<EventStream>;
}

interface ApiContainer {
  Id: string;
  Names?: string[];
  Name?: string;
  Labels?: Record<string, string>;
  Config?: { Hostname?: string; Labels?: Record<string, string>; StopSignal?: string };
  /** An object when inspected; in a list, a word (`running`). */
  State?: { Running?: boolean; Health?: { Status?: string } } | string;
  /** In a list: `Up 5 minutes (healthy)`. */
  Status?: string;
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string }> };
}

function view(c: ApiContainer): ContainerView {
  const networks: Record<string, string> = {};
  for (const [name, n] of Object.entries(c.NetworkSettings?.Networks ?? {})) if (n.IPAddress) networks[name] = n.IPAddress;
  return {
    id: c.Id,
    name: (c.Name ?? c.Names?.[0] ?? c.Id).replace(/^\//, ''),
    ...(c.Config?.Hostname && { hostname: c.Config.Hostname }),
    labels: c.Config?.Labels ?? c.Labels ?? {},
    networks,
    ...(typeof c.State === 'object' && c.State.Health?.Status && { health: c.State.Health.Status }),
    ...(typeof c.State !== 'object' && c.Status && /\((healthy|unhealthy|health: starting)\)/.test(c.Status) && { health: /\((?:health: )?(\w+)\)/.exec(c.Status)![1]! }),
    ...(c.Config?.StopSignal && { stopSignal: c.Config.StopSignal }),
  };
}

/** The container events the agent acts on; the others (exec_*, attach, ...) are not sent at all. */
const EVENTS = ['start', 'die', 'stop', 'kill', 'destroy', 'health_status'];
/** A longer event line is skipped (a container can carry huge labels, and every event repeats them). */
const MAX_EVENT_LINE = 1024 * 1024;

export class DockerSocket implements DockerEngine {
  constructor(
    private readonly socketPath = '/var/run/docker.sock',
    private readonly timeoutMs = 10000,
  ) {}

  async list(labels: string[]): Promise<ContainerView[]> {
    const filters = encodeURIComponent(JSON.stringify({ label: labels, status: ['running'] }));
    const { status, body } = await this.get(`/containers/json?filters=${filters}`);
    if (status !== 200) throw new Error(`docker: listing containers answered ${status}: ${body.slice(0, 200)}`);
    return (JSON.parse(body) as ApiContainer[]).map(view);
  }

  async inspect(id: string): Promise<ContainerView | undefined> {
    const { status, body } = await this.get(`/containers/${encodeURIComponent(id)}/json`);
    if (status === 404) return undefined;
    if (status !== 200) throw new Error(`docker: inspecting ${id} answered ${status}: ${body.slice(0, 200)}`);
    const c = JSON.parse(body) as ApiContainer;
    return typeof c.State === 'object' && c.State.Running ? view(c) : undefined;
  }

  events(labels: string[], onEvent: (e: ContainerEvent) => void): Promise<EventStream> {
    const filters = encodeURIComponent(JSON.stringify({ type: ['container'], event: EVENTS, label: labels }));
    return new Promise((resolve, reject) => {
      let end!: (err: Error) => void;
      const ended = new Promise<Error>((r) => (end = r));
      const req = request({ socketPath: this.socketPath, path: `/events?filters=${filters}`, method: 'GET' }, (res) => {
        clearTimeout(headers);
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`docker: the event stream answered ${res.statusCode}`));
        }
        resolve({ ended, close: () => req.destroy() });
        let buffered = '';
        let skipping = false;
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let nl: number;
          while ((nl = buffered.indexOf('\n')) >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (skipping) {
              skipping = false; // the rest of an over-long line
              continue;
            }
            if (!line) continue;
            try {
              const e = JSON.parse(line) as { id?: string; Action?: string; status?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
              const id = e.Actor?.ID ?? e.id;
              const action = e.Action ?? e.status;
              const signal = e.Actor?.Attributes?.signal;
              if (id && action) onEvent({ id, action, ...(signal !== undefined && { signal }) });
            } catch {
              // not JSON: skipped, the stream goes on
            }
          }
          if (buffered.length > MAX_EVENT_LINE) {
            buffered = '';
            skipping = true;
          }
        });
        res.on('end', () => end(new Error('docker: the event stream ended')));
        res.on('error', (err) => end(err));
        res.on('close', () => end(new Error('docker: the event stream closed')));
      });
      // The stream's headers come at once; a socket that says nothing is not an engine.
      const headers = setTimeout(() => req.destroy(new Error(`docker: no answer to /events in ${this.timeoutMs} ms`)), this.timeoutMs);
      req.on('error', (err) => {
        clearTimeout(headers);
        reject(err);
        end(err);
      });
      req.end();
    });
  }

  private get(path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request({ socketPath: this.socketPath, path, method: 'GET', timeout: this.timeoutMs }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
          if (body.length > 64 * 1024 * 1024) req.destroy(new Error(`docker: the answer to ${path} is over 64 MiB`));
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`docker: no answer to ${path} in ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }
}
