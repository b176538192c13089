/**
 * A codec turns user values into the bytes that cross a channel (a shared-memory ring, a pipe)
 * and back. Implementations live with the transports (`@millrace/bridge-shm` ships raw, msgpack,
 * JSON and tensor-frame codecs); the contract lives here so roles and runners can name one.
 */
export interface Codec<T> {
  /** A stable name both sides agree on, e.g. `msgpack`; a mismatch is detected by name. */
  readonly name: string;
  encode(value: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

/**
 * The codec names of each direction of a role's codec. A codec named `X-in/Y-out` (e.g. the
 * PyTorch prediction codec `tensor-in/msgpack-out`) encodes the runner's input with `X` and decodes
 * its output with `Y`; any other name is the same codec both ways. Runners and transports that
 * label or check each direction use this, so the rule lives in one place.
 */
export function codecDirections(name: string): { input: string; output: string } {
  const split = /^(.+)-in\/(.+)-out$/.exec(name);
  return split ? { input: split[1]!, output: split[2]! } : { input: name, output: name };
}
