/**
 * Reserves the named ports a role needs by binding port 0 on the host the node advertises, so the
 * ports published in the cluster spec are free and reachable on that host (DESIGN §4).
 *
 * Two ways to hand them to the runner:
 * - released right before the runner starts (the default; Python runners): the runner binds the
 *   published port itself, and one that loses the race fails its bind — an ordinary, restartable
 *   node failure;
 * - handed over as bound sockets (runners marked {@link adoptsReservedSockets}, e.g.
 *   `processRunner({ handOverPorts: true })` for Node children): no race at all. The runner takes
 *   them with {@link takeReservedSockets} during `start`; the agent closes whatever it left.
 *
 * A restarted node asks for the ports it had (`preferred`) and gets a fresh one only when such a
 * port is taken: the nodes that survived a restart-one keep the cluster spec they started with,
 * so a restarted server (a TF.js prediction shard) is reachable again at its old address.
 */
import { createServer, type Server } from 'node:net';
import type { Runner, RunnerContext } from '@millrace/core';

export interface PortReservation {
  readonly ports: Readonly<Record<string, number>>;
  /** The bound listening sockets, by port name, until released or taken. */
  readonly sockets: ReadonlyMap<string, Server>;
  release(): Promise<void>;
}

export async function reservePorts(
  host: string,
  names: readonly string[],
  preferred: Readonly<Record<string, number>> = {},
): Promise<PortReservation> {
  const sockets = new Map<string, Server>();
  const ports: Record<string, number> = {};
  const release = async () => {
    const open = [...sockets.values()];
    sockets.clear();
    await Promise.all(open.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  };
  try {
    for (const name of names) {
      const wanted = preferred[name];
      const bound = wanted === undefined ? undefined : await bindPort(host, wanted).catch(() => undefined);
      const { server, port } = bound ?? (await bindPort(host, 0));
      sockets.set(name, server);
      ports[name] = port;
    }
  } catch (error) {
    await release();
    throw new Error(`cannot reserve port(s) ${names.join(', ')} on ${host}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { ports, sockets, release };
}

/** Binds `port` (0: any free one) exclusively; rejects when it is taken. */
function bindPort(host: string, port: number): Promise<{ server: Server; port: number }> {
  // A reserved port is already in the spec, and a restarted node's port is one that survivors
  // keep retrying, so clients do connect to the reservation. Each is cut off at once: the client
  // retries as it would on a refused connection, and `close()`, which waits for every accepted
  // connection to end, cannot wait on a client that never hangs up (that held a restarted
  // node before its start for as long as the survivors kept trying).
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, exclusive: true }, () => {
      server.off('error', reject);
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : port });
    });
  });
}

const adoptsSockets = Symbol.for('millrace.runner.adopts-reserved-sockets');
const handedOver = new WeakMap<RunnerContext, PortReservation>();

/** Marks a runner as one that takes the reserved sockets instead of binding the ports itself. */
export function adoptsReservedSockets<R extends Runner>(runner: R): R {
  return Object.assign(runner, { [adoptsSockets]: true });
}

export function runnerAdoptsReservedSockets(runner: Runner): boolean {
  return (runner as unknown as Record<symbol, unknown>)[adoptsSockets] === true;
}

/** Used by the node agent: the runner started with `context` may take these sockets. */
export function offerReservedSockets(context: RunnerContext, reservation: PortReservation): void {
  handedOver.set(context, reservation);
}

/**
 * Takes the bound sockets the agent reserved for this runner's ports (by port name). The caller
 * owns them from now on (close them once a child process inherited them). Empty when the runner
 * was not marked with {@link adoptsReservedSockets}.
 */
export function takeReservedSockets(context: RunnerContext): Map<string, Server> {
  const reservation = handedOver.get(context);
  handedOver.delete(context);
  const taken = new Map(reservation?.sockets ?? []);
  (reservation?.sockets as Map<string, Server> | undefined)?.clear();
  return taken;
}
