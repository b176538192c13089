/** Where one node (an instance of a role) can be reached, as published in the cluster spec. */
export interface NodeSpec {
  role: string;
  index: number;
  /** Host the node advertises, e.g. `127.0.0.1`. */
  host: string;
  /** Ports the node reserved for its engine, by name (e.g. `{ rendezvous: 29500 }`). */
  ports: Readonly<Record<string, number>>;
  /** Process id of the node agent, for diagnostics. */
  pid?: number | undefined;
}

/**
 * The whole cluster as every node sees it once all expected nodes registered: per role, the
 * nodes ordered by index. A new spec is published at every generation.
 */
export interface ClusterSpec {
  jobName: string;
  generation: number;
  roles: Readonly<Record<string, readonly NodeSpec[]>>;
}

/** `role:index`, the key Millrace uses for a node everywhere. */
export type NodeKey = `${string}:${number}`;

export function nodeKey(role: string, index: number): NodeKey {
  return `${role}:${index}`;
}

export function parseNodeKey(key: string): { role: string; index: number } {
  const at = key.lastIndexOf(':');
  return { role: key.slice(0, at), index: Number(key.slice(at + 1)) };
}

/** `host:port` of a named port of a node in the spec, or undefined when absent. */
export function nodeAddress(
  spec: ClusterSpec,
  role: string,
  index: number,
  port: string,
): string | undefined {
  const node = spec.roles[role]?.[index];
  const value = node?.ports[port];
  return node && value !== undefined ? `${node.host}:${value}` : undefined;
}
