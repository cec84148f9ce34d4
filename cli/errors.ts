import { LeaseholdError, OptionError } from '../common/errors.js';

// The CLI's failures, one class each; main.ts turns each into a message and an exit code.

/** Bad arguments: the usage goes to stderr, exit 2. `command` names the subcommand whose usage to print. */
export class UsageError extends LeaseholdError {
  constructor(message: string, readonly command?: string) {
    super(message);
  }
}

/** etcd did not answer (refused, timed out, unreachable endpoints). */
export class EtcdUnreachableError extends LeaseholdError {
  override readonly retryable = true;
  constructor(readonly endpoints: string[], options?: { cause?: unknown }) {
    super(`etcd unreachable at ${endpoints.join(', ')}${options?.cause instanceof Error ? ` (${shortGrpcMessage(options.cause.message)})` : ''}`, options);
  }
}

/** gRPC's "14 UNAVAILABLE: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:2379. Resolution note: " → "connect ECONNREFUSED 127.0.0.1:2379". */
export function shortGrpcMessage(message: string): string {
  return /Last error: (?:Error: )?(.*?)\.?\s*(?:Resolution note:.*)?$/s.exec(message)?.[1] || message;
}

/** etcd answered and refused: permission denied, or the credentials were not accepted. */
export class PermissionError extends LeaseholdError {
  constructor(readonly action: string, options?: { cause?: unknown }) {
    super(`no permission to ${action}${options?.cause instanceof Error ? ` (${options.cause.message})` : ''}: the operator role reads everything and writes the operator prefix (ETCD_USERNAME, or the client certificate)`, options);
  }
}

/** The node named is not registered in etcd (and has no operator key). */
export class UnknownNodeError extends LeaseholdError {
  constructor(readonly node: string, readonly known: string[]) {
    super(`unknown node ${node}: no record under the nodes prefix${known.length ? `; registered in that service: ${known.slice(0, 10).join(', ')}${known.length > 10 ? ', ...' : ''}` : ''} (--force writes the key anyway)`);
  }
}

/** No renderer answered where one is needed (`drain --wait`). */
export class RendererUnreachableError extends LeaseholdError {
  override readonly retryable = true;
}

/** `drain --wait` ran out of time. */
export class WaitTimeoutError extends LeaseholdError {}

/** The exit code for a failure (documented in `leasehold --help`). */
export function exitCodeOf(err: unknown): number {
  if (err instanceof UsageError || err instanceof OptionError) return 2;
  if (err instanceof EtcdUnreachableError) return 3;
  if (err instanceof PermissionError) return 4;
  if (err instanceof UnknownNodeError) return 5;
  if (err instanceof WaitTimeoutError) return 6;
  return 1;
}
