import { jsonCodec as ringJsonCodec } from '@millrace/bridge-shm';
import { CodecError, jsonCodec } from '@millrace/core';
import { describe, expect, it } from 'vitest';
import { roleJsonCodec } from './index.js';

describe("addRole's default codec", () => {
  it("is the one JSON codec of the TypeScript side: core's, the same object bridge-shm exports", () => {
    expect(roleJsonCodec).toBe(jsonCodec);
    expect(ringJsonCodec).toBe(jsonCodec);
    expect(roleJsonCodec.decode(roleJsonCodec.encode({ id: 7, name: 'é' }))).toEqual({ id: 7, name: 'é' });
    // Invalid UTF-8 is an error naming the codec, not a string of replacement characters.
    expect(() => roleJsonCodec.decode(new Uint8Array([0x22, 0xff, 0x22]))).toThrow(CodecError);
  });
});
