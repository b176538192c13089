/**
 * Which network interface a rank's collective traffic must use. gloo (and tensorpipe) pick an
 * interface by resolving the machine's hostname, which in containers and network namespaces is
 * often a loopback address: rank 0 then tells the other ranks to connect to 127.0.0.1, and a rank
 * on another host is refused. The node agent advertises the address of the interface that routes
 * to the AM (the address other hosts reach it on), so that interface is the one to name.
 */
import { networkInterfaces } from 'node:os';

/** The name of this machine's interface that holds `address`; undefined for loopback or none. */
export function interfaceHolding(
  address: string,
  interfaces: NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]> = networkInterfaces(),
): string | undefined {
  const bare = address.replace(/^\[|\]$/g, '');
  for (const [name, entries] of Object.entries(interfaces)) {
    if (entries?.some((entry) => !entry.internal && entry.address === bare)) return name;
  }
  return undefined;
}
