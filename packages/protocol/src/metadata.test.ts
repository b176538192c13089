import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import {
  ClusterEvent,
  ErrorCode,
  errorDetailOf,
  protocolServiceError,
  tokenMetadata,
  tokenMetadataKey,
} from './index.js';

describe('protocol conventions', () => {
  it('carries an ErrorDetail through the binary trailer with the matching status', () => {
    const error = protocolServiceError({
      code: ErrorCode.ERROR_CODE_STALE_GENERATION,
      message: 'generation 1 is stale',
      currentGeneration: 3,
      role: 'worker',
      index: 1,
    });
    expect(error.code).toBe(status.FAILED_PRECONDITION);
    const detail = errorDetailOf(error);
    expect(detail).toEqual({
      code: ErrorCode.ERROR_CODE_STALE_GENERATION,
      message: 'generation 1 is stale',
      currentGeneration: 3,
      role: 'worker',
      index: 1,
    });
  });

  it('reads no detail from an error that has none', () => {
    expect(errorDetailOf(new Error('plain'))).toBeUndefined();
    expect(errorDetailOf({ metadata: new Metadata() })).toBeUndefined();
  });

  it('puts the token under x-millrace-token', () => {
    expect(tokenMetadata('abc').get(tokenMetadataKey)).toEqual(['abc']);
  });

  it('round-trips a cluster spec event through the wire format', () => {
    const event: ClusterEvent = {
      specReady: {
        spec: {
          jobName: 'job',
          generation: 2,
          roles: {
            worker: {
              nodes: [{ role: 'worker', index: 0, host: '127.0.0.1', ports: { rpc: 4000 }, pid: 9 }],
            },
          },
        },
      },
    };
    expect(ClusterEvent.decode(ClusterEvent.encode(event).finish())).toEqual(event);
  });
});
