import { type Codec, CodecError } from '@millrace/core';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * UTF-8 JSON, the default codec of a role: readable from any language. For tensors or speed use
 * a codec from `@millrace/bridge-shm` (msgpack, tensor frames).
 */
export const roleJsonCodec: Codec<unknown> = {
  name: 'json',
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new CodecError('json', `cannot encode ${typeof value}`);
    return encoder.encode(text);
  },
  decode(bytes) {
    try {
      return JSON.parse(decoder.decode(bytes));
    } catch (error) {
      throw new CodecError('json', `invalid JSON record (${(error as Error).message})`, { cause: error });
    }
  },
};
