/**
 * Which address a node advertises to the other nodes: the address of this machine's interface
 * that routes to the application manager. Connecting a UDP socket sends nothing; it only makes the
 * kernel choose the source address it would use for that destination, which is the interface
 * other hosts on the AM's network can reach.
 */
import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { hostOfAddress, isLoopbackHost } from './join-url.js';

/** The local address that routes to the AM at `amAddress` (`host:port`); 127.0.0.1 for a loopback AM. */
export async function addressRoutingTo(amAddress: string): Promise<string> {
  const host = hostOfAddress(amAddress);
  if (isLoopbackHost(host)) return host === '::1' ? '::1' : '127.0.0.1';
  const family = isIP(host) === 6 ? 'udp6' : 'udp4';
  const socket = createSocket(family);
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.once('error', reject);
      // Any port works: nothing is sent, the kernel only picks a route and a source address.
      socket.connect(9, host, () => resolve(socket.address().address));
    });
  } finally {
    socket.close();
  }
}
