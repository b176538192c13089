import { type Codec, CodecError } from '@millrace/core';
import { Packr } from 'msgpackr';

// Plain MessagePack only (no records, structures or extension types), so Debian's python3-msgpack
// reads exactly what we write and the other way round.
const packr = new Packr({ useRecords: false, moreTypes: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * MessagePack in msgpackr's plain mode, interoperable with python3-msgpack. Maps decode to plain
 * objects; msgpackr renames a key `__proto__` to `__proto_` (its prototype-pollution guard).
 */
export const msgpackCodec: Codec<unknown> = {
  name: 'msgpack',
  encode(value) {
    try {
      return packr.pack(value);
    } catch (error) {
      throw new CodecError('msgpack', `cannot encode value: ${(error as Error).message}`, { cause: error });
    }
  },
  decode(bytes) {
    let value: unknown;
    try {
      value = packr.unpack(bytes);
    } catch (error) {
      throw new CodecError(
        'msgpack',
        `record of ${bytes.byteLength} bytes is not one MessagePack value: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    // msgpackr turns the never-used byte 0xc1 into a marker object instead of failing.
    if (typeof value === 'object' && value !== null && value.constructor?.name === 'C1Type') {
      throw new CodecError('msgpack', 'record holds the reserved byte 0xc1, not MessagePack');
    }
    return value;
  },
};
