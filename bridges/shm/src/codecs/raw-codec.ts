import { type Codec, CodecError } from '@millrace/core';

/** Bytes in, the same bytes out. The name `raw` is what both sides check (RING.md §9). */
export const rawCodec: Codec<Uint8Array> = {
  name: 'raw',
  encode(value) {
    if (!(value instanceof Uint8Array))
      throw new CodecError('raw', `expected a Uint8Array, got ${describe(value)}`);
    return value;
  },
  decode(bytes) {
    return bytes;
  },
};

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}
