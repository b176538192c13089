/**
 * Ring-specific errors. They extend core's classes, so `MillraceError.isInstance` and the error
 * codes work as everywhere else; the native layer reports a string code that `toRingError` maps.
 */
import {
  ConfigError,
  MillraceError,
  MillraceTimeoutError,
  PeerDiedError,
  ProtocolError,
  RecordTooLargeError,
} from '@millrace/core';

// core's index does not export its MillraceErrorOptions type; this is the same shape.
type MillraceErrorOptions = { cause?: unknown };

/** The channel is closed: by this side (`local`) or by the peer (`peer`). */
export class ChannelClosedError extends MillraceError {
  readonly by: 'local' | 'peer';

  constructor(by: 'local' | 'peer', message: string, options: MillraceErrorOptions = {}) {
    super('CHANNEL_CLOSED', message, options);
    this.name = 'ChannelClosedError';
    this.by = by;
  }
}

/** Raised by the ring; lives in core so the one ring pump (runner-kit) can recognise it. */
export { RecordTooLargeError };

interface NativeError {
  code?: string;
  message: string;
}

/** Maps an error thrown or rejected by the addon to a Millrace error; others pass through. */
export function toRingError(
  error: unknown,
  context: { path: string; operation: string; timeoutMs?: number; attachTimeoutMs?: number },
): unknown {
  if (!(error instanceof Error) || MillraceError.isInstance(error)) return error;
  const native = error as NativeError;
  switch (native.code) {
    case 'PEER_DIED': {
      const pid = /pid (\d+)/.exec(native.message)?.[1];
      return new PeerDiedError(native.message, pid === undefined ? undefined : Number(pid), { cause: error });
    }
    case 'PEER_CLOSED':
      return new ChannelClosedError('peer', native.message, { cause: error });
    case 'CLOSED':
      return new ChannelClosedError('local', native.message, { cause: error });
    case 'TIMEOUT': {
      // The native message says "no writer/reader attached" when the attach bound ran out.
      const bound = / attached/.test(native.message) ? context.attachTimeoutMs : context.timeoutMs;
      return new MillraceTimeoutError(context.operation, bound ?? -1, native.message, {
        cause: error,
      });
    }
    case 'TOO_BIG': {
      const sizes = /record of (\d+) bytes exceeds .* maximum of (\d+)/.exec(native.message);
      if (sizes) return new RecordTooLargeError(Number(sizes[1]), Number(sizes[2]), `ring ${context.path}`);
      return new ProtocolError(native.message, { cause: error });
    }
    case 'CORRUPT':
    case 'BAD_HEADER':
    case 'ALREADY_ATTACHED':
    case 'WRONG_SIDE':
    case 'BUSY':
      return new ProtocolError(native.message, { cause: error });
    case 'NOT_FOUND':
      return new ConfigError([{ path: 'path', message: `${native.message} (create it with createRing())` }], {
        subject: 'ring',
        cause: error,
      });
    default:
      return error;
  }
}
