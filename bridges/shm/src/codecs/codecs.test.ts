import { CodecError, jsonCodec } from '@millrace/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codecByName } from './codec-registry.js';
import { msgpackCodec } from './msgpack-codec.js';
import { rawCodec } from './raw-codec.js';
import {
  decodeTensorFrame,
  encodeTensorFrame,
  type TensorFrame,
  tensorFrameCodec,
} from './tensor-frame-codec.js';

// msgpackr renames a map key "__proto__" (prototype-pollution guard), a documented limitation.
const plainValue = fc
  .jsonValue()
  .filter((value) => !JSON.stringify(value).includes('"__proto__"'))
  .map((value) => JSON.parse(JSON.stringify(value)) as unknown);

describe('codecs', () => {
  it('round-trip JSON and msgpack values', () => {
    fc.assert(
      fc.property(plainValue, (value) => {
        expect(jsonCodec.decode(jsonCodec.encode(value))).toEqual(value);
        expect(msgpackCodec.decode(msgpackCodec.encode(value))).toEqual(value);
      }),
    );
  });

  it('name the codec when bytes are not theirs', () => {
    const tensorBytes = encodeTensorFrame({
      x: { dtype: 'float32', shape: [2], data: new Float32Array([1, 2]) },
    });
    expect(() => jsonCodec.decode(tensorBytes)).toThrow(CodecError);
    expect(() => jsonCodec.decode(new Uint8Array([0xff, 0xfe]))).toThrow(/json codec/);
    expect(() => msgpackCodec.decode(msgpackCodec.encode({ a: 'long string' }).subarray(0, 5))).toThrow(
      /msgpack codec/,
    );
    expect(() => msgpackCodec.decode(new Uint8Array([0xc1]))).toThrow(/msgpack codec.*0xc1/);
    expect(() => tensorFrameCodec.decode(jsonCodec.encode({ not: 'a tensor frame' }))).toThrow(
      /tensor codec.*MTF1/,
    );
    expect(() => rawCodec.encode('text' as unknown as Uint8Array)).toThrow(/raw codec/);
    expect(() => codecByName('protobuf')).toThrow(/unknown codec "protobuf"/);
  });

  it('round-trips tensor frames of every dtype, viewing the data in place', () => {
    const frame: TensorFrame = {
      features: { dtype: 'float32', shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) },
      weights: { dtype: 'float64', shape: [3], data: new Float64Array([0.5, -1, 2e300]) },
      labels: { dtype: 'int64', shape: [2], data: new BigInt64Array([1n, -(2n ** 62n)]) },
      counts: { dtype: 'int32', shape: [2, 1], data: new Int32Array([-7, 7]) },
      pixels: { dtype: 'uint8', shape: [5], data: new Uint8Array([0, 1, 2, 254, 255]) },
      scalar: { dtype: 'uint32', shape: [], data: new Uint32Array([42]) },
      tiny: { dtype: 'int8', shape: [1], data: new Int8Array([-1]) },
      short: { dtype: 'int16', shape: [1], data: new Int16Array([-300]) },
      ushort: { dtype: 'uint16', shape: [0], data: new Uint16Array([]) },
    };
    const bytes = encodeTensorFrame(frame);
    const decoded = decodeTensorFrame(bytes);
    expect(Object.keys(decoded)).toEqual(Object.keys(frame));
    for (const [name, tensor] of Object.entries(frame)) {
      expect(decoded[name]!.dtype).toBe(tensor.dtype);
      expect(decoded[name]!.shape).toEqual(tensor.shape);
      expect(decoded[name]!.data).toEqual(tensor.data);
    }
    expect(decoded.features!.data.buffer).toBe(bytes.buffer);
  });

  it('writes every byte of a frame, padding and reserved fields as zeros (RING.md §8)', () => {
    // The encoder writes into uninitialised memory, so it must write each pad itself; this pins
    // the exact bytes of a frame whose name and data both need padding.
    const bytes = encodeTensorFrame({ abc: { dtype: 'uint8', shape: [3], data: new Uint8Array([7, 8, 9]) } });
    // magic, count 1 | code 5, rank 1, name length 3, reserved 0 | shape [3] | "abc" + 5 pad bytes
    // | data length 3 | 7 8 9 + 5 pad bytes
    expect(Array.from(bytes)).toEqual([
      ...[0x4d, 0x54, 0x46, 0x31, 1, 0, 0, 0],
      ...[5, 1, 3, 0, 0, 0, 0, 0],
      ...[3, 0, 0, 0, 0, 0, 0, 0],
      ...[0x61, 0x62, 0x63, 0, 0, 0, 0, 0],
      ...[3, 0, 0, 0, 0, 0, 0, 0],
      ...[7, 8, 9, 0, 0, 0, 0, 0],
    ]);
  });

  it('reject frames that lie about their sizes, and bad tensors on encode', () => {
    const bytes = encodeTensorFrame({ x: { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) } });
    expect(() => decodeTensorFrame(bytes.subarray(0, bytes.length - 8))).toThrow(/truncated/);
    const wrongLength = bytes.slice();
    new DataView(wrongLength.buffer).setBigUint64(8 + 8 + 16 + 8, 99n, true);
    expect(() => decodeTensorFrame(wrongLength)).toThrow(/needs 16 bytes, the frame says 99/);
    const badDtype = bytes.slice();
    badDtype[8] = 77;
    expect(() => decodeTensorFrame(badDtype)).toThrow(/unknown dtype code 77/);
    expect(() =>
      encodeTensorFrame({ x: { dtype: 'float32', shape: [3], data: new Float32Array(2) } }),
    ).toThrow(/holds 3 elements but data has 2/);
    expect(() =>
      encodeTensorFrame({ x: { dtype: 'float64', shape: [2], data: new Float32Array(2) } }),
    ).toThrow(/dtype float64/);
  });

  it('decode any random bytes as tensor frames either correctly or with a CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeTensorFrame(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(CodecError);
        }
      }),
    );
  });
});
