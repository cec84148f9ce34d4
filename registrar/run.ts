// leasehold-run: the app as this process's child, registered while it is healthy. The order on
// the way out is the point: the node leaves the LB (goodbye, revoke) before the app is told to
// stop, so no request reaches an app that is going.
import { type ChildProcess, type SpawnOptions, spawn as nodeSpawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { constants } from 'node:os';

/** The part of the registrar the runner drives. */
export interface Registration {
  start(): void;
  /** Leaves gracefully (marked leaving, then revoked); bounded by the registrar's own timeouts. */
  stop(): Promise<void>;
}

/**
 * The registration of an app started before its registrar is ready: the app does not wait for
 * our own start-up (the TLS login, the lease). The registrar given later starts at once if the
 * app has started; a stop before it came leaves nothing to undo, and it is then never started.
 */
export class LateRegistration implements Registration {
  private registrar?: Registration;
  private started = false;
  private stopping?: Promise<void>;

  start(): void {
    this.started = true;
    this.registrar?.start();
  }

  stop(): Promise<void> {
    this.stopping ??= this.registrar ? this.registrar.stop() : Promise.resolve();
    return this.stopping;
  }

  /** False when a stop came first: the registrar is not started (close what it holds). */
  attach(registrar: Registration): boolean {
    if (this.stopping) return false;
    this.registrar = registrar;
    if (this.started) registrar.start();
    return true;
  }
}

/** Signals that stop the app: the node leaves first. Docker sends the image's STOPSIGNAL. */
export const LEAVE_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGQUIT'];
/** Signals passed on to the app at once (reload, log rotation, terminal size). */
export const PASS_SIGNALS: readonly NodeJS.Signals[] = ['SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'];

export interface RunnerEvents {
  started: [{ pid: number; command: string }];
  /** A leave signal: the node is leaving; the signal reaches the app when it has left. */
  leaving: [{ signal: NodeJS.Signals }];
  forwarded: [{ signal: NodeJS.Signals }];
  /** The app ended (its own doing or a signal's); `status` is what leasehold-run exits with. */
  exited: [{ code: number | null; signal: NodeJS.Signals | null; status: number; asked: boolean }];
  /** The command could not be started. */
  failed: [{ error: Error; status: number }];
}

export type Spawn = (command: string, args: string[], options: SpawnOptions) => ChildProcess;

/** The exit status a shell would give: the app's code, or 128 + the signal that ended it. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/**
 * Starts `command`, and the registration beside it; passes signals on; exits with the app. It
 * restarts nothing: an app that ends ends the container, as without leasehold.
 */
export class AppRunner extends EventEmitter<RunnerEvents> {
  private child?: ChildProcess;
  private leaving?: Promise<void>;
  private asked = false;
  /** A leave signal reached the app while the node was still leaving (it was asked twice). */
  private passedOn = false;
  /** A leave signal that came before run(): the app is not started at all. */
  private early?: NodeJS.Signals;

  constructor(
    private readonly command: string,
    private readonly args: string[],
    private readonly registration: Registration,
    private readonly options: {
      env?: NodeJS.ProcessEnv;
      spawn?: Spawn;
      /** Runs the command through this (tini as a subreaper: it reaps what the app orphans). */
      wrap?: string[];
      /** The app's user and group (RUN_AS): it then cannot read leasehold-run's secrets. */
      uid?: number;
      gid?: number;
    } = {},
  ) {
    super();
  }

  /** Resolves with the status to exit with, once the app has ended and the node has left. */
  run(): Promise<number> {
    // Told to stop during start-up (a `docker stop` right after the start): the app never runs,
    // and the status is the one it would have had, killed by that signal.
    if (this.early) return Promise.resolve(exitStatus(null, this.early));
    return new Promise((resolve) => {
      const spawn = this.options.spawn ?? nodeSpawn;
      // A session of its own: a terminal's ^C (or `kill -- -pgid`, `timeout`, systemd's
      // control-group stop) signals a whole process group, and would reach the app before the
      // leave. Only leasehold-run hears them, and passes them on in order. The app has no
      // controlling terminal (its stdio still is the terminal).
      const { wrap = [], uid, gid } = this.options;
      const [file, ...args] = [...wrap, this.command, ...this.args];
      const child = spawn(file!, args, { stdio: 'inherit', env: this.options.env ?? process.env, detached: true, ...(uid !== undefined && { uid }), ...(gid !== undefined && { gid }) });
      this.child = child;
      let over = false;
      // on, not once: a failed kill() (EPERM) emits 'error' too, and a second one unheard would throw.
      child.on('error', (error: NodeJS.ErrnoException) => {
        if (over || child.pid !== undefined) return; // a failed kill(): the exit event follows
        over = true;
        const status = error.code === 'ENOENT' ? 127 : 126; // as a shell says it
        this.emit('failed', { error, status });
        void this.leave().then(() => resolve(status));
      });
      child.once('exit', (code, signal) => {
        if (over) return;
        over = true;
        const status = exitStatus(code, signal);
        this.emit('exited', { code, signal, status, asked: this.asked });
        // An app that ended on its own serves no more: it leaves at once, as on a stop.
        void this.leave().then(() => resolve(status));
      });
      if (child.pid !== undefined) {
        this.emit('started', { pid: child.pid, command: this.command });
        this.registration.start();
      }
    });
  }

  /** A signal leasehold-run received. */
  signal(signal: NodeJS.Signals): void {
    if (!this.child) {
      if (LEAVE_SIGNALS.includes(signal)) this.early ??= signal;
      return; // no app yet to pass it to
    }
    if (!LEAVE_SIGNALS.includes(signal)) {
      this.forward(signal);
      return;
    }
    if (this.leaving) {
      this.passedOn = true;
      this.forward(signal); // asked again while leaving: the app hears it now
      return;
    }
    this.emit('leaving', { signal });
    void this.leave().then(() => this.passedOn || this.forward(signal));
  }

  private leave(): Promise<void> {
    this.leaving ??= this.registration.stop().catch(() => undefined);
    return this.leaving;
  }

  private forward(signal: NodeJS.Signals): void {
    const c = this.child;
    if (!c || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return;
    if (LEAVE_SIGNALS.includes(signal)) this.asked = true;
    this.emit('forwarded', { signal });
    try {
      c.kill(signal);
    } catch {
      /* gone meanwhile */
    }
  }
}
