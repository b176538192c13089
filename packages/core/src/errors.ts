/**
 * Every error Millrace throws derives from {@link MillraceError}. The brand is a registered symbol,
 * so `MillraceError.isInstance` works even when two copies of this package are installed (where
 * `instanceof` would not). Subclasses carry what went wrong as typed fields, not only as prose.
 */
const brand = Symbol.for('millrace.error');

export type MillraceErrorCode =
  | 'CONFIG_INVALID'
  | 'NODE_FAILED'
  | 'JOB_FAILED'
  | 'TIMEOUT'
  | 'PROTOCOL'
  | 'VERSION_MISMATCH'
  | 'AUTHENTICATION'
  /** A server's TLS certificate is not the one its join URL pins. */
  | 'SERVER_IDENTITY'
  | 'STALE_GENERATION'
  | 'REGISTRATION_REJECTED'
  | 'CANCELLED'
  | 'CODEC'
  | 'CHANNEL_CLOSED'
  | 'PEER_DIED'
  | 'DEPENDENCY_MISSING'
  /** A dataflow operator (or the user function inside it) failed. */
  | 'OPERATOR_FAILED'
  /** User code in another language or sandbox (a Python function) raised. */
  | 'USER_CODE_FAILED'
  /** A cluster manager (Slurm, Kubernetes, local host processes) refused or lost an application. */
  | 'SCHEDULER'
  /** A published model version was refused by a prediction operator (corrupt, incompatible, gated). */
  | 'MODEL_VERSION_REJECTED'
  /** A message broker (Redis, NATS) could not be reached within the connect bound. */
  | 'BROKER_UNREACHABLE'
  /** A stream, consumer group or consumer a connector needs does not exist on the broker. */
  | 'BROKER_RESOURCE_MISSING'
  /** A broker entry could not be decoded; connectors dead-letter it instead of failing. */
  | 'MALFORMED_ENTRY'
  /** Records given to a role did not all reach its runners: the job fails instead of succeeding. */
  | 'RECORDS_LOST';

export interface MillraceErrorOptions {
  cause?: unknown;
}

export class MillraceError extends Error {
  readonly [brand] = true;
  readonly code: MillraceErrorCode;

  constructor(code: MillraceErrorCode, message: string, options: MillraceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MillraceError';
    this.code = code;
  }

  /**
   * True for a Millrace error from any copy of this package. Called on a subclass
   * (`ConfigError.isInstance(x)`) it also checks the kind, by the error's name.
   */
  static isInstance<T extends MillraceError>(
    this: abstract new (
      ...args: never[]
    ) => T,
    value: unknown,
  ): value is T {
    if (typeof value !== 'object' || value === null) return false;
    if ((value as Record<symbol, unknown>)[brand] !== true) return false;
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class the check was called on, which decides the kind.
    return (this as unknown) === MillraceError || (value as Error).name === this.name;
  }
}

/** One problem found while validating user input; `path` is dotted, e.g. `roles.worker.instances`. */
export interface ConfigIssue {
  path: string;
  message: string;
}

/** A configuration was rejected before anything started. The message names every bad field. */
export class ConfigError extends MillraceError {
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly ConfigIssue[], options: MillraceErrorOptions & { subject?: string } = {}) {
    const subject = options.subject ?? 'config';
    const lines = issues.map(
      (issue) => `  ${subject}${issue.path ? `.${issue.path}` : ''}: ${issue.message}`,
    );
    super('CONFIG_INVALID', `Invalid ${subject}:\n${lines.join('\n')}`, options);
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** What is known about one node's failure: enough to act on without reading logs. */
export interface NodeFailure {
  role: string;
  index: number;
  generation: number;
  /** Process exit code, when the runner was a process that exited. */
  exitCode?: number | undefined;
  /** Signal that ended the runner process, e.g. `SIGKILL`. */
  signal?: string | undefined;
  /**
   * Why the node is considered failed: `exited`, `heartbeat-missed`, `start-failed`, `stalled`
   * (alive, but no progress for its stall timeout), `error`.
   */
  reason: 'exited' | 'heartbeat-missed' | 'start-failed' | 'stalled' | 'error';
  message: string;
  /** The last lines the runner wrote to stderr (bounded). */
  stderrTail?: string | undefined;
  /** A restart cannot fix it (see RunnerResult's `permanent`): the job fails without restarting. */
  permanent?: boolean | undefined;
}

export function describeNodeFailure(failure: NodeFailure): string {
  const how =
    failure.signal !== undefined
      ? `killed by ${failure.signal}`
      : failure.exitCode !== undefined
        ? `exit code ${failure.exitCode}`
        : failure.reason;
  const tail = failure.stderrTail?.trim() ? `\n    stderr:\n${indent(failure.stderrTail.trim(), 6)}` : '';
  return `${failure.role}[${failure.index}] (generation ${failure.generation}) ${how}: ${failure.message}${tail}`;
}

function indent(text: string, spaces: number): string {
  const pad = ' '.repeat(spaces);
  return text
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

/** A single node (role instance) failed. */
export class NodeFailureError extends MillraceError {
  readonly failure: NodeFailure;

  constructor(failure: NodeFailure, options: MillraceErrorOptions = {}) {
    super('NODE_FAILED', `Node ${describeNodeFailure(failure)}`, options);
    this.name = 'NodeFailureError';
    this.failure = failure;
  }

  get role(): string {
    return this.failure.role;
  }
  get index(): number {
    return this.failure.index;
  }
  get exitCode(): number | undefined {
    return this.failure.exitCode;
  }
  get stderrTail(): string | undefined {
    return this.failure.stderrTail;
  }
}

/** The job failed as a whole: restarts were exhausted, or the engine's policy said `fail`. */
export class JobFailedError extends MillraceError {
  readonly failures: readonly NodeFailure[];
  readonly restarts: number;

  constructor(
    summary: string,
    failures: readonly NodeFailure[],
    restarts: number,
    options: MillraceErrorOptions = {},
  ) {
    const detail = failures.length
      ? `\n${failures.map((f) => `  - ${describeNodeFailure(f)}`).join('\n')}`
      : '';
    super('JOB_FAILED', `${summary}${detail}`, options);
    this.name = 'JobFailedError';
    this.failures = failures;
    this.restarts = restarts;
  }
}

/** A bounded wait ran out. `operation` says what was being waited for. */
export class MillraceTimeoutError extends MillraceError {
  readonly operation: string;
  readonly timeoutMs: number;

  constructor(operation: string, timeoutMs: number, detail?: string, options: MillraceErrorOptions = {}) {
    super(
      'TIMEOUT',
      `Timed out after ${timeoutMs} ms waiting for ${operation}${detail ? `: ${detail}` : ''}`,
      options,
    );
    this.name = 'MillraceTimeoutError';
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

/** The peer spoke, but not in a way the protocol allows (malformed message, unexpected state). */
export class ProtocolError extends MillraceError {
  constructor(message: string, options: MillraceErrorOptions = {}) {
    super('PROTOCOL', message, options);
    this.name = 'ProtocolError';
  }
}

/**
 * A record is larger than the transport can ever hold (a shared-memory ring rejects it rather than
 * fragmenting it, RING.md §3). Every path that moves records into a ring fails the job with it, so
 * the message names both sizes and how to make room. In core because the ring (bridge-shm) raises
 * it and the one ring pump (runner-kit) recognises it.
 */
export class RecordTooLargeError extends ProtocolError {
  readonly recordBytes: number;
  readonly maxRecordBytes: number;

  /**
   * `where` names the ring (`ring /dev/shm/…`, `the input ring of the Python runner`); `remedy`
   * replaces the generic advice with the setting the user can change on that path.
   */
  constructor(
    recordBytes: number,
    maxRecordBytes: number,
    where: string,
    options: MillraceErrorOptions & { remedy?: string | undefined } = {},
  ) {
    super(
      `A record of ${recordBytes} bytes does not fit ${where}, whose largest record is ${maxRecordBytes} bytes ` +
        `(capacity - 8). ${options.remedy ?? `Create the ring with a larger capacityBytes (a power of two at least ${recordBytes + 8}).`}`,
      options,
    );
    this.name = 'RecordTooLargeError';
    this.recordBytes = recordBytes;
    this.maxRecordBytes = maxRecordBytes;
  }
}

/** Two sides speak different versions of a contract (engine specification, ring format, protocol). */
export class VersionMismatchError extends MillraceError {
  readonly subject: string;
  readonly expected: string;
  readonly actual: string;

  constructor(subject: string, expected: string, actual: string, options: MillraceErrorOptions = {}) {
    super('VERSION_MISMATCH', `${subject}: expected version ${expected}, got ${actual}`, options);
    this.name = 'VersionMismatchError';
    this.subject = subject;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A call carried a wrong or missing job token. */
export class AuthenticationError extends MillraceError {
  constructor(message = 'The job token is missing or wrong', options: MillraceErrorOptions = {}) {
    super('AUTHENTICATION', message, options);
    this.name = 'AuthenticationError';
  }
}

/**
 * The server at `address` presented a certificate whose SHA-256 fingerprint is not the one the
 * join URL pins. Nothing (no token) was sent to it.
 */
export class ServerIdentityError extends MillraceError {
  readonly address: string;
  /** The fingerprint the join URL pins (lower-case hex). */
  readonly expected: string;
  /** The fingerprint of the certificate the server presented (lower-case hex), when it presented one. */
  readonly actual: string | undefined;

  constructor(
    address: string,
    expected: string,
    actual: string | undefined,
    options: MillraceErrorOptions = {},
  ) {
    super(
      'SERVER_IDENTITY',
      actual === undefined
        ? `${address} presented no TLS certificate; the join URL pins sha256:${expected}. Nothing was sent to it. Check the address, or that the AM serves TLS.`
        : `${address} presented a certificate with fingerprint sha256:${actual}, but the join URL pins sha256:${expected}. Nothing was sent to it: this is not the application manager the URL names (or it restarted with a new certificate; use its new join URL).`,
      options,
    );
    this.name = 'ServerIdentityError';
    this.address = address;
    this.expected = expected;
    this.actual = actual;
  }
}

/** A node spoke from a generation the cluster has left behind; it must restart into `current`. */
export class StaleGenerationError extends MillraceError {
  readonly received: number;
  readonly current: number;

  constructor(received: number, current: number, options: MillraceErrorOptions = {}) {
    super(
      'STALE_GENERATION',
      `Generation ${received} is stale; the cluster is at generation ${current}`,
      options,
    );
    this.name = 'StaleGenerationError';
    this.received = received;
    this.current = current;
  }
}

export type RegistrationRejection = 'unknown-role' | 'index-out-of-range' | 'duplicate' | 'not-accepting';

/** The application manager refused a node's registration. */
export class RegistrationError extends MillraceError {
  readonly reason: RegistrationRejection;
  readonly role: string;
  readonly index: number;

  constructor(reason: RegistrationRejection, role: string, index: number, message: string) {
    super('REGISTRATION_REJECTED', message);
    this.name = 'RegistrationError';
    this.reason = reason;
    this.role = role;
    this.index = index;
  }
}

/** The operation was cancelled (an AbortSignal fired, or the job was stopped). */
export class CancelledError extends MillraceError {
  constructor(message = 'Cancelled', options: MillraceErrorOptions = {}) {
    super('CANCELLED', message, options);
    this.name = 'CancelledError';
  }
}

/** Bytes could not be encoded or decoded by the named codec. */
export class CodecError extends MillraceError {
  readonly codec: string;

  constructor(codec: string, message: string, options: MillraceErrorOptions = {}) {
    super('CODEC', `${codec} codec: ${message}`, options);
    this.name = 'CodecError';
    this.codec = codec;
  }
}

/** The other side of a channel (ring, pipe, socket) died or vanished while we waited on it. */
export class PeerDiedError extends MillraceError {
  readonly pid?: number | undefined;

  constructor(message: string, pid?: number, options: MillraceErrorOptions = {}) {
    super('PEER_DIED', message, options);
    this.name = 'PeerDiedError';
    this.pid = pid;
  }
}

/** An optional dependency (a Python module, an npm peer) is not installed; the message says how. */
export class DependencyMissingError extends MillraceError {
  readonly dependency: string;

  constructor(dependency: string, message: string, options: MillraceErrorOptions = {}) {
    super('DEPENDENCY_MISSING', message, options);
    this.name = 'DependencyMissingError';
    this.dependency = dependency;
  }
}

/**
 * The record count of a stream-mode role subtask does not add up when it ends: records went in
 * that no runner consumed (or that a runner which died had taken without a checkpoint covering
 * them, with replay off). The job fails with this rather than report success over lost data.
 */
export class RecordsLostError extends MillraceError {
  readonly role: string;
  readonly index: number;
  /** Records the subtask received from the pipeline. */
  readonly recordsIn: number;
  /** Records its runners consumed (replayed records counted once). */
  readonly recordsDelivered: number;

  constructor(
    details: { role: string; index: number; recordsIn: number; recordsDelivered: number; reason: string },
    options: MillraceErrorOptions = {},
  ) {
    super(
      'RECORDS_LOST',
      `${details.role}[${details.index}]: ${details.recordsIn - details.recordsDelivered} of ${details.recordsIn} input records never reached a runner (${details.reason})`,
      options,
    );
    this.name = 'RecordsLostError';
    this.role = details.role;
    this.index = details.index;
    this.recordsIn = details.recordsIn;
    this.recordsDelivered = details.recordsDelivered;
  }
}
