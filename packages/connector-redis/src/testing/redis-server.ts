/** A throwaway redis-server for tests: 127.0.0.1, a free port, no persistence, stopped by PID. */
import { type ServerProcess, startServerProcess } from '@millrace/connector-kit/testing';

export interface RedisServer extends ServerProcess {
  readonly url: string;
}

export async function startRedisServer(options: { command?: string } = {}): Promise<RedisServer> {
  const server = await startServerProcess({
    name: 'redis-server',
    command: options.command ?? 'redis-server',
    args: (port, directory) => [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      directory,
      '--save',
      '',
      '--appendonly',
      'no',
    ],
  });
  return Object.assign(server, { url: `redis://127.0.0.1:${server.port}` });
}
