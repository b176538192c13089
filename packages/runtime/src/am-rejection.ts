/**
 * A refused call, as the application manager's handlers return it: the protocol's error code, a
 * sentence naming what was wrong, and the node it was about. The service turns it into a gRPC
 * status plus the `ErrorDetail` trailer.
 */
import { type ErrorCode, tokenMetadataKey } from '@millrace/protocol';

export interface Rejection {
  code: ErrorCode;
  message: string;
  role?: string;
  index?: number;
}

export const tokenMessage = `the job token is missing or wrong: send it in the '${tokenMetadataKey}' metadata`;

const rejectionKeys = new Set(['code', 'message', 'role', 'index']);

/** Rejections are the only handler results made of nothing but these keys. */
export function isRejection(value: unknown): value is Rejection {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Rejection).code === 'number' &&
    Object.keys(value).every((key) => rejectionKeys.has(key))
  );
}
