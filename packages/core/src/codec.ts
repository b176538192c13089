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
