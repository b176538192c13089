import { type Codec, ConfigError, jsonCodec } from '@millrace/core';
import { msgpackCodec } from './msgpack-codec.js';
import { rawCodec } from './raw-codec.js';
import { tensorFrameCodec } from './tensor-frame-codec.js';

const codecs: Record<string, Codec<unknown>> = {
  raw: rawCodec as Codec<unknown>,
  json: jsonCodec,
  msgpack: msgpackCodec,
  tensor: tensorFrameCodec as Codec<unknown>,
};

/** The built-in codec with this name (`raw`, `json`, `msgpack`, `tensor`). */
export function codecByName(name: string): Codec<unknown> {
  const codec = codecs[name];
  if (!codec) {
    throw new ConfigError([
      { path: 'codec', message: `unknown codec "${name}" (use one of ${Object.keys(codecs).join(', ')})` },
    ]);
  }
  return codec;
}
