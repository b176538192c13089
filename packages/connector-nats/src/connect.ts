/**
 * One way to open a NATS connection for the connectors: bounded (a server that does not answer
 * within `connectTimeoutMs` is a BrokerUnreachableError naming the servers) and with a bounded
 * reconnect, so a lost server fails the job instead of leaving it waiting.
 */
import { BrokerUnreachableError, withTimeout } from '@millrace/connector-kit';
import { connect, type NatsConnection } from 'nats';

export async function connectNats(
  servers: readonly string[],
  connectTimeoutMs: number,
): Promise<NatsConnection> {
  const onTimeout = (reason: string) =>
    new BrokerUnreachableError({
      broker: 'nats',
      address: servers.join(', '),
      timeoutMs: connectTimeoutMs,
      reason,
    });
  try {
    return await withTimeout(
      connect({
        servers: [...servers],
        timeout: connectTimeoutMs,
        maxReconnectAttempts: 10,
        reconnectTimeWait: 500,
      }),
      connectTimeoutMs + 1_000,
      () => onTimeout('no answer'),
    );
  } catch (error) {
    if (BrokerUnreachableError.isInstance(error)) throw error;
    throw new BrokerUnreachableError(
      {
        broker: 'nats',
        address: servers.join(', '),
        timeoutMs: connectTimeoutMs,
        reason: (error as Error).message,
      },
      { cause: error },
    );
  }
}

/** Closes a connection without waiting on a server that may be gone. */
export async function closeNats(connection: NatsConnection | undefined): Promise<void> {
  if (!connection || connection.isClosed()) return;
  try {
    await withTimeout(connection.drain(), 2_000, () => new Error('drain timed out'));
  } catch {
    await connection.close().catch(() => {});
  }
}

/** True for JetStream's "stream not found" / "consumer not found" answers. */
export function isNotFound(error: unknown): boolean {
  const apiError = (error as { api_error?: { code?: number } })?.api_error;
  return apiError?.code === 404 || /not found/i.test((error as Error)?.message ?? '');
}
