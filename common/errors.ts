/** Base of every leasehold error. `retryable` marks failures worth another try. */
export class LeaseholdError extends Error {
  readonly retryable: boolean = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An environment variable or option that cannot be used. Fatal at start-up. */
export class OptionError extends LeaseholdError {}

/**
 * No address of this host fits what the registrar was told to advertise (`ADVERTISE_NETWORK`):
 * retried, as the container's interface on that network may come up later.
 */
export class AddressError extends LeaseholdError {
  override readonly retryable = true;
}

/** A value under the nodes prefix that is not a valid record. */
export class RecordError extends LeaseholdError {
  /**
   * `policy`: refused by this LB's admission rules (where it may send traffic), not for its form.
   * A live key's last valid record never outlives a policy refusal: the rules decide now.
   */
  constructor(
    readonly key: string,
    readonly reason: string,
    readonly policy = false,
  ) {
    super(`rejected record ${key}: ${reason}`);
  }
}

/** etcd could not be reached or answered with an error. */
export class StoreError extends LeaseholdError {
  override readonly retryable = true;
}

/**
 * etcd did not answer: refused or reset connection, timeout, TLS failure, 5xx or gRPC
 * Unavailable. The call may succeed on another endpoint or later.
 */
export class EtcdUnavailableError extends StoreError {
  constructor(message: string, readonly endpoint: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The lease named in a call no longer exists (expired, revoked, etcd emptied): grant a new one. */
export class LeaseNotFoundError extends StoreError {
  constructor(readonly leaseId: string, options?: { cause?: unknown }) {
    super(`lease ${leaseId} not found`, options);
  }
}

/**
 * etcd refused a write on a lease we hold (permission denied) that our own key does not explain:
 * the lease carries a key we may not write, attached by someone who knew its id (a lease id is no
 * secret). Retryable: a new lease is the cure.
 */
export class LeaseRefusedError extends StoreError {
  constructor(readonly leaseId: string, options?: { cause?: unknown }) {
    super(`lease ${leaseId} refused: etcd denies writes on it (a key we may not write is attached to it); taking a new lease`, options);
  }
}

/**
 * etcd answered and refused: wrong credentials, permission denied, invalid argument. Trying
 * again changes nothing until someone fixes the configuration or the roles.
 */
export class EtcdRefusedError extends LeaseholdError {
  /** `grpcCode`: gRPC status code from the gateway's answer (7 permission denied, 3 invalid argument...). */
  constructor(message: string, readonly httpStatus: number, readonly grpcCode?: number) {
    super(message);
  }
}

/** The template could not be rendered. The last good config stays live. */
export class RenderError extends LeaseholdError {}

/** `haproxy -c` refused a staged config. The last good config stays live. */
export class ConfigCheckError extends LeaseholdError {
  constructor(message: string, readonly output: string) {
    super(message);
  }
}

/** HAProxy did not confirm a reload on its master CLI. */
export class ReloadError extends LeaseholdError {
  override readonly retryable = true;
}

/** The worker's runtime API could not be reached, or cut an exchange short. */
export class RuntimeError extends LeaseholdError {
  override readonly retryable = true;
}

/** A file of the live config could not be written (EACCES, ENOSPC, ...). The last good one stays. */
export class WriteError extends LeaseholdError {
  override readonly retryable = true;
}
