/** A throwaway nats-server with JetStream for tests: 127.0.0.1, a free port, its store in a temporary directory, stopped by PID. */
import { type ServerProcess, startServerProcess } from '@millrace/connector-kit/testing';

export interface NatsServer extends ServerProcess {
  readonly url: string;
}

export async function startNatsServer(options: { command?: string } = {}): Promise<NatsServer> {
  const server = await startServerProcess({
    name: 'nats-server',
    command: options.command ?? 'nats-server',
    args: (port, directory) => ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', directory],
  });
  return Object.assign(server, { url: `nats://127.0.0.1:${server.port}` });
}
