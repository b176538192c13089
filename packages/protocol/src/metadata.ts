/**
 * The conventions of the protocol that live outside the messages: the metadata key of the job
 * token, the protocol version string, and the binary trailer that carries an `ErrorDetail` on a
 * failed call (see the header of `proto/millrace/v1/application_manager.proto`).
 */
import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { ErrorCode, ErrorDetail } from './generated/millrace/v1/application_manager.js';

/** Request metadata key that carries the job token on every call. */
export const tokenMetadataKey = 'x-millrace-token';

/** Trailing metadata key (binary) that carries one serialized `ErrorDetail` on a failed call. */
export const errorDetailMetadataKey = 'x-millrace-error-bin';

/** The value of `RegisterNodeRequest.protocol_version` this package speaks. */
export const protocolVersion = 'millrace.v1';

/** The gRPC status code the protocol pairs with each error code. */
export function grpcStatusFor(code: ErrorCode): status {
  switch (code) {
    case ErrorCode.ERROR_CODE_AUTHENTICATION:
      return status.UNAUTHENTICATED;
    case ErrorCode.ERROR_CODE_REGISTRATION_DUPLICATE:
      return status.ALREADY_EXISTS;
    case ErrorCode.ERROR_CODE_REGISTRATION_UNKNOWN_ROLE:
    case ErrorCode.ERROR_CODE_REGISTRATION_INDEX_OUT_OF_RANGE:
    case ErrorCode.ERROR_CODE_INVALID_ARGUMENT:
      return status.INVALID_ARGUMENT;
    case ErrorCode.ERROR_CODE_UNKNOWN_NODE:
      return status.NOT_FOUND;
    case ErrorCode.ERROR_CODE_REGISTRATION_NOT_ACCEPTING:
      return status.UNAVAILABLE;
    case ErrorCode.ERROR_CODE_STALE_GENERATION:
    case ErrorCode.ERROR_CODE_JOB_ENDED:
    case ErrorCode.ERROR_CODE_VERSION_MISMATCH:
      return status.FAILED_PRECONDITION;
    default:
      return status.UNKNOWN;
  }
}

/** Builds the error a server handler passes to its callback (or emits on a stream). */
export function protocolServiceError(detail: ErrorDetail): Partial<ServiceError> {
  const metadata = new Metadata();
  metadata.set(errorDetailMetadataKey, Buffer.from(ErrorDetail.encode(detail).finish()));
  return { code: grpcStatusFor(detail.code), details: detail.message, metadata };
}

/** Reads the `ErrorDetail` of a failed call, or undefined when the error did not come with one. */
export function errorDetailOf(error: unknown): ErrorDetail | undefined {
  const metadata = (error as Partial<ServiceError> | null)?.metadata;
  if (!(metadata instanceof Metadata)) return undefined;
  const [value] = metadata.get(errorDetailMetadataKey);
  if (!Buffer.isBuffer(value)) return undefined;
  try {
    return ErrorDetail.decode(value);
  } catch {
    return undefined;
  }
}

/** Call metadata carrying the job token. */
export function tokenMetadata(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set(tokenMetadataKey, token);
  return metadata;
}
