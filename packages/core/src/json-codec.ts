import type { Codec } from './codec.js';
import { CodecError } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * UTF-8 JSON, one value per record: the default codec of a role (`addRole`), readable from any
 * language. The one JSON codec of the TypeScript side; `@millrace/bridge-shm` and
 * `@millrace/runtime` re-export this object.
 */
export const jsonCodec: Codec<unknown> = {
  name: 'json',
  encode(value) {
    const text = JSON.stringify(value);
    if (text === undefined) throw new CodecError('json', `cannot encode ${typeof value} as JSON`);
    return encoder.encode(text);
  },
  decode(bytes) {
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch (error) {
      throw new CodecError('json', `record of ${bytes.byteLength} bytes is not valid UTF-8`, {
        cause: error,
      });
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      throw new CodecError(
        'json',
        `record of ${bytes.byteLength} bytes is not JSON: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
  },
};
