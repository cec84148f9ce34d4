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

/** A value under the nodes prefix that is not a valid record. */
export class RecordError extends LeaseholdError {
  constructor(readonly key: string, readonly reason: string) {
    super(`rejected record ${key}: ${reason}`);
  }
}

/** etcd could not be reached or answered with an error. */
export class StoreError extends LeaseholdError {
  override readonly retryable = true;
}

/** The app's health check did not answer 2xx. */
export class AppUnhealthyError extends LeaseholdError {
  override readonly retryable = true;
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
