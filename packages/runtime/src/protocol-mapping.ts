/**
 * Conversions between core's types and the wire messages of `@millrace/protocol`, and between the
 * protocol's `ErrorDetail` and core's typed errors. Both ends (AM and node agent, CLI) use these,
 * so a value means the same on either side of the wire.
 */
import {
  AuthenticationError,
  type ClusterSpec,
  type MillraceError,
  type NodeFailure,
  type NodeSpec,
  ProtocolError,
  RegistrationError,
  StaleGenerationError,
  VersionMismatchError,
} from '@millrace/core';
import {
  ErrorCode,
  errorCodeToJSON,
  errorDetailOf,
  FailureReason,
  type NodeFailureInfo,
  protocolVersion,
  type ClusterSpec as WireClusterSpec,
  type NodeSpec as WireNodeSpec,
} from '@millrace/protocol';

export function toWireNodeSpec(node: NodeSpec): WireNodeSpec {
  return {
    role: node.role,
    index: node.index,
    host: node.host,
    ports: { ...node.ports },
    pid: node.pid ?? 0,
  };
}

export function fromWireNodeSpec(node: WireNodeSpec): NodeSpec {
  return {
    role: node.role,
    index: node.index,
    host: node.host,
    ports: { ...node.ports },
    pid: node.pid || undefined,
  };
}

export function toWireClusterSpec(spec: ClusterSpec): WireClusterSpec {
  const roles: WireClusterSpec['roles'] = {};
  for (const [role, nodes] of Object.entries(spec.roles)) roles[role] = { nodes: nodes.map(toWireNodeSpec) };
  return { jobName: spec.jobName, generation: spec.generation, roles };
}

export function fromWireClusterSpec(spec: WireClusterSpec): ClusterSpec {
  const roles: Record<string, NodeSpec[]> = {};
  for (const [role, { nodes }] of Object.entries(spec.roles)) roles[role] = nodes.map(fromWireNodeSpec);
  return { jobName: spec.jobName, generation: spec.generation, roles };
}

const reasonsToWire: Record<NodeFailure['reason'], FailureReason> = {
  exited: FailureReason.FAILURE_REASON_EXITED,
  'heartbeat-missed': FailureReason.FAILURE_REASON_HEARTBEAT_MISSED,
  'start-failed': FailureReason.FAILURE_REASON_START_FAILED,
  stalled: FailureReason.FAILURE_REASON_STALLED,
  error: FailureReason.FAILURE_REASON_ERROR,
};

export function toWireFailureReason(reason: NodeFailure['reason']): FailureReason {
  return reasonsToWire[reason];
}

export function fromWireFailureReason(reason: FailureReason): NodeFailure['reason'] {
  const found = (Object.entries(reasonsToWire) as [NodeFailure['reason'], FailureReason][]).find(
    ([, wire]) => wire === reason,
  );
  return found?.[0] ?? 'error';
}

export function toWireFailure(failure: NodeFailure): NodeFailureInfo {
  return {
    role: failure.role,
    index: failure.index,
    generation: failure.generation,
    reason: toWireFailureReason(failure.reason),
    exitCode: failure.exitCode,
    signal: failure.signal ?? '',
    message: failure.message,
    stderrTail: failure.stderrTail ?? '',
  };
}

export function fromWireFailure(info: NodeFailureInfo): NodeFailure {
  return {
    role: info.role,
    index: info.index,
    generation: info.generation,
    reason: fromWireFailureReason(info.reason),
    exitCode: info.exitCode,
    signal: info.signal || undefined,
    message: info.message,
    stderrTail: info.stderrTail || undefined,
  };
}

/** The protocol's error code behind a MillraceError made by {@link toMillraceError}, if any. */
export function protocolErrorCode(error: unknown): ErrorCode | undefined {
  return errorDetailOf((error as { cause?: unknown })?.cause)?.code;
}

/** grpc-js ends connection errors with `. Resolution note: ` even when it has no note to give. */
function withoutEmptyNote(message: string): string {
  return message.replace(/\.?\s*Resolution note:\s*$/, '');
}

/**
 * Turns a failed gRPC call into core's typed error: the `ErrorDetail` trailer when the AM sent
 * one, else a ProtocolError that says the AM could not be reached or answered oddly.
 */
export function toMillraceError(error: unknown, address: string, sentGeneration = -1): MillraceError {
  const detail = errorDetailOf(error);
  if (!detail) {
    const message = (error as { details?: string; message?: string })?.details || (error as Error)?.message;
    return new ProtocolError(
      `application manager at ${address}: ${withoutEmptyNote(message ?? String(error))}`,
      {
        cause: error,
      },
    );
  }
  switch (detail.code) {
    case ErrorCode.ERROR_CODE_AUTHENTICATION:
      return new AuthenticationError(detail.message, { cause: error });
    case ErrorCode.ERROR_CODE_STALE_GENERATION:
      return new StaleGenerationError(sentGeneration, detail.currentGeneration, { cause: error });
    case ErrorCode.ERROR_CODE_REGISTRATION_DUPLICATE:
      return new RegistrationError('duplicate', detail.role, detail.index, detail.message);
    case ErrorCode.ERROR_CODE_REGISTRATION_UNKNOWN_ROLE:
      return new RegistrationError('unknown-role', detail.role, detail.index, detail.message);
    case ErrorCode.ERROR_CODE_REGISTRATION_INDEX_OUT_OF_RANGE:
      return new RegistrationError('index-out-of-range', detail.role, detail.index, detail.message);
    case ErrorCode.ERROR_CODE_REGISTRATION_NOT_ACCEPTING:
      return new RegistrationError('not-accepting', detail.role, detail.index, detail.message);
    case ErrorCode.ERROR_CODE_VERSION_MISMATCH:
      return new VersionMismatchError('control-plane protocol', protocolVersion, detail.message, {
        cause: error,
      });
    default:
      return new ProtocolError(`${errorCodeToJSON(detail.code)}: ${detail.message}`, { cause: error });
  }
}
