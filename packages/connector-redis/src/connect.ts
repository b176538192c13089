/**
 * One way to open a Redis connection for the connectors: bounded (a server that does not answer
 * within `connectTimeoutMs` is a BrokerUnreachableError naming the address) and without an
 * offline queue, so a command issued while the server is gone fails instead of waiting forever.
 */
import { BrokerUnreachableError, withTimeout } from '@millrace/connector-kit';
import { Redis } from 'ioredis';

export async function connectRedis(url: string, connectTimeoutMs: number): Promise<Redis> {
  const deadline = Date.now() + connectTimeoutMs;
  const redis: Redis = new Redis(url, {
    lazyConnect: true,
    // RESP2 replies: the stream commands below read them as nested arrays.
    protocol: 2,
    connectTimeout: connectTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    // Reconnect after a blip, but give up once the connect bound has passed without a connection.
    retryStrategy: (times: number): number | null =>
      Date.now() > deadline && redis.status !== 'ready' ? null : Math.min(times * 100, 1000),
  });
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => {
    lastError = error;
  });
  try {
    await withTimeout(
      redis.connect(),
      connectTimeoutMs,
      () =>
        new BrokerUnreachableError({
          broker: 'redis',
          address: redactUrl(url),
          timeoutMs: connectTimeoutMs,
          reason: lastError?.message ?? 'no answer',
        }),
    );
  } catch (error) {
    redis.disconnect();
    if (BrokerUnreachableError.isInstance(error)) throw error;
    throw new BrokerUnreachableError(
      {
        broker: 'redis',
        address: redactUrl(url),
        timeoutMs: connectTimeoutMs,
        reason: (error as Error).message,
      },
      { cause: error },
    );
  }
  return redis;
}

/** Closes a connection without waiting on a server that may be gone. */
export async function closeRedis(redis: Redis | undefined): Promise<void> {
  if (!redis || redis.status === 'end') return;
  try {
    await withTimeout(redis.quit(), 1_000, () => new Error('quit timed out'));
  } catch {
    redis.disconnect();
  }
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}
