/**
 * Reserves the named ports a role needs by binding port 0 on the host the node advertises, so the
 * ports published in the cluster spec are free and reachable on that host. The sockets are held
 * until the runner is about to start, then released for the runner to bind (DESIGN §4); a runner
 * that loses the race fails its bind, which is an ordinary, restartable node failure.
 */
import { createServer, type Server } from 'node:net';

export interface PortReservation {
  readonly ports: Readonly<Record<string, number>>;
  release(): Promise<void>;
}

export async function reservePorts(host: string, names: readonly string[]): Promise<PortReservation> {
  const servers: Server[] = [];
  const ports: Record<string, number> = {};
  const release = async () => {
    await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    servers.length = 0;
  };
  try {
    for (const name of names) {
      const server = createServer();
      servers.push(server);
      ports[name] = await new Promise<number>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ port: 0, host, exclusive: true }, () => {
          const address = server.address();
          resolve(typeof address === 'object' && address ? address.port : 0);
        });
      });
    }
  } catch (error) {
    await release();
    throw new Error(`cannot reserve port(s) ${names.join(', ')} on ${host}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { ports, release };
}
