/**
 * The named errors every broker connector throws. Each names the broker, the address or resource
 * and what to do, so a job that cannot start says why before it reads anything.
 */
import { MillraceError, type MillraceErrorOptions } from '@millrace/core';

export type BrokerKind = 'redis' | 'nats';

/** The broker did not answer within the connect bound. */
export class BrokerUnreachableError extends MillraceError {
  readonly broker: BrokerKind;
  readonly address: string;
  readonly timeoutMs: number;

  constructor(
    details: { broker: BrokerKind; address: string; timeoutMs: number; reason: string },
    options: MillraceErrorOptions = {},
  ) {
    super(
      'BROKER_UNREACHABLE',
      `Cannot reach ${details.broker} at ${details.address} within ${details.timeoutMs} ms: ${details.reason}. Check that the server runs and the address is right (connectTimeoutMs raises the bound).`,
      options,
    );
    this.name = 'BrokerUnreachableError';
    this.broker = details.broker;
    this.address = details.address;
    this.timeoutMs = details.timeoutMs;
  }
}

/** A stream, consumer group, consumer or dead-letter stream the connector needs does not exist. */
export class BrokerResourceMissingError extends MillraceError {
  readonly broker: BrokerKind;
  readonly resource: 'stream' | 'group' | 'consumer' | 'dead-letter stream';
  readonly resourceName: string;

  constructor(
    details: {
      broker: BrokerKind;
      resource: BrokerResourceMissingError['resource'];
      resourceName: string;
      remedy: string;
    },
    options: MillraceErrorOptions = {},
  ) {
    super(
      'BROKER_RESOURCE_MISSING',
      `The ${details.broker} ${details.resource} '${details.resourceName}' does not exist: ${details.remedy}`,
      options,
    );
    this.name = 'BrokerResourceMissingError';
    this.broker = details.broker;
    this.resource = details.resource;
    this.resourceName = details.resourceName;
  }
}

/**
 * An entry the source could not decode. It is not thrown into the job: the connector writes the
 * entry and this error's message to the dead-letter stream, acknowledges it, and counts it
 * (`deadLettered` in the source's metrics).
 */
export class MalformedEntryError extends MillraceError {
  readonly entryId: string;

  constructor(details: { entryId: string; reason: string }, options: MillraceErrorOptions = {}) {
    super('MALFORMED_ENTRY', `Entry ${details.entryId} is malformed: ${details.reason}`, options);
    this.name = 'MalformedEntryError';
    this.entryId = details.entryId;
  }
}

/** Bounds a promise: rejects with what `onTimeout` returns when it does not settle in time. */
export async function withTimeout<T>(
  promise: Promise<T>,
  timeoutMs: number,
  onTimeout: () => Error,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(onTimeout()), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
