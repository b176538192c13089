/**
 * Runs a broker server (redis-server, nats-server) for a test: on 127.0.0.1, on a free port, in
 * a temporary directory, and stops it by its PID (SIGTERM, SIGKILL after a grace period) before
 * removing the directory. A port taken between choosing and binding is retried with another.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ServerProcessOptions {
  /** Shown in errors, e.g. `redis-server`. */
  name: string;
  command: string;
  /** The server's arguments for a port and its own temporary directory. */
  args(port: number, directory: string): string[];
  /** How long the server may take to accept connections. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface ServerProcess {
  readonly port: number;
  readonly pid: number;
  readonly directory: string;
  /** Stops the server by PID and removes its directory. */
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not pick a free port');
  return address.port;
}

export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  let lastError: unknown;
  for (let tries = 0; tries < 3; tries++) {
    const port = await freePort();
    const directory = mkdtempSync(join(tmpdir(), `millrace-${options.name}-`));
    try {
      return await startOnce(options, port, directory);
    } catch (error) {
      rmSync(directory, { recursive: true, force: true });
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(
  options: ServerProcessOptions,
  port: number,
  directory: string,
): Promise<ServerProcess> {
  const logPath = join(directory, 'server.log');
  const child = spawn(
    'sh',
    ['-c', 'exec "$@" >"$0" 2>&1', logPath, options.command, ...options.args(port, directory)],
    {
      cwd: directory,
      stdio: 'ignore',
    },
  );
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (error) => resolve(error.message));
  });
  const logTail = () => {
    try {
      return readFileSync(logPath, 'utf8').trim().split('\n').slice(-10).join('\n');
    } catch {
      return '';
    }
  };
  const deadline = Date.now() + (options.readyTimeoutMs ?? 10_000);
  let exitedWith: number | string | undefined;
  void exited.then((value) => {
    exitedWith = value;
  });
  while (!(await accepts(port))) {
    if (exitedWith !== undefined) {
      throw new Error(`${options.name} exited (${exitedWith}) before accepting connections:\n${logTail()}`);
    }
    if (Date.now() > deadline) {
      await stopChild(child, exited);
      throw new Error(`${options.name} did not accept connections on port ${port} in time:\n${logTail()}`);
    }
    await sleep(50);
  }
  return {
    port,
    pid: child.pid!,
    directory,
    async stop() {
      await stopChild(child, exited);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function stopChild(child: ChildProcess, exited: Promise<unknown>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid!, 'SIGTERM');
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
  }, 3_000);
  await exited;
  clearTimeout(timer);
}
