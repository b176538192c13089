/**
 * Tensor frames (RING.md §8): named tensors, each a dtype, a shape and raw little-endian data at an
 * 8-byte aligned offset, so Python views them with numpy.frombuffer and JavaScript with typed
 * arrays, without copying. Decoding validates every length and names what is wrong.
 */
import { type Codec, CodecError } from '@millrace/core';

export type TensorDType =
  | 'float32'
  | 'float64'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'uint32';

export type TensorData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Uint32Array;

export interface Tensor {
  dtype: TensorDType;
  shape: readonly number[];
  data: TensorData;
}

/** One frame: tensors by name, e.g. `{ features, labels }`. Order is preserved. */
export type TensorFrame = Record<string, Tensor>;

interface DTypeInfo {
  code: number;
  itemSize: number;
  make: (buffer: ArrayBufferLike, byteOffset: number, length: number) => TensorData;
  is: (data: TensorData) => boolean;
}

const dtypes: Record<TensorDType, DTypeInfo> = {
  float32: {
    code: 1,
    itemSize: 4,
    make: (b, o, n) => new Float32Array(b, o, n),
    is: (d) => d instanceof Float32Array,
  },
  float64: {
    code: 2,
    itemSize: 8,
    make: (b, o, n) => new Float64Array(b, o, n),
    is: (d) => d instanceof Float64Array,
  },
  int32: {
    code: 3,
    itemSize: 4,
    make: (b, o, n) => new Int32Array(b, o, n),
    is: (d) => d instanceof Int32Array,
  },
  int64: {
    code: 4,
    itemSize: 8,
    make: (b, o, n) => new BigInt64Array(b, o, n),
    is: (d) => d instanceof BigInt64Array,
  },
  uint8: {
    code: 5,
    itemSize: 1,
    make: (b, o, n) => new Uint8Array(b, o, n),
    is: (d) => d instanceof Uint8Array,
  },
  int8: {
    code: 6,
    itemSize: 1,
    make: (b, o, n) => new Int8Array(b, o, n),
    is: (d) => d instanceof Int8Array,
  },
  int16: {
    code: 7,
    itemSize: 2,
    make: (b, o, n) => new Int16Array(b, o, n),
    is: (d) => d instanceof Int16Array,
  },
  uint16: {
    code: 8,
    itemSize: 2,
    make: (b, o, n) => new Uint16Array(b, o, n),
    is: (d) => d instanceof Uint16Array,
  },
  uint32: {
    code: 9,
    itemSize: 4,
    make: (b, o, n) => new Uint32Array(b, o, n),
    is: (d) => d instanceof Uint32Array,
  },
};
const dtypeByCode = new Map(Object.entries(dtypes).map(([name, info]) => [info.code, name as TensorDType]));

const frameMagic = 0x3146544d; // 'MTF1' little-endian
const maxRank = 8;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

const align8 = (n: number) => (n + 7) & ~7;
const fail = (message: string): never => {
  throw new CodecError('tensor', message);
};

function elementCount(shape: readonly number[], where: string): number {
  let count = 1;
  for (const dimension of shape) {
    if (!Number.isSafeInteger(dimension) || dimension < 0)
      fail(`${where}: shape entry ${dimension} is not a size`);
    count *= dimension;
  }
  return count;
}

export function encodeTensorFrame(frame: TensorFrame): Uint8Array {
  const entries = Object.entries(frame);
  const layouts = entries.map(([name, tensor]) => {
    const info = dtypes[tensor?.dtype];
    if (!info)
      fail(
        `tensor "${name}": unknown dtype ${String(tensor?.dtype)} (use one of ${Object.keys(dtypes).join(', ')})`,
      );
    if (!info!.is(tensor.data))
      fail(
        `tensor "${name}": dtype ${tensor.dtype} needs a ${info!.make.name || tensor.dtype} typed array, got ${tensor.data?.constructor?.name}`,
      );
    if (tensor.shape.length > maxRank)
      fail(`tensor "${name}": rank ${tensor.shape.length} exceeds ${maxRank}`);
    const count = elementCount(tensor.shape, `tensor "${name}"`);
    if (count !== tensor.data.length)
      fail(
        `tensor "${name}": shape [${tensor.shape.join(', ')}] holds ${count} elements but data has ${tensor.data.length}`,
      );
    const nameBytes = encoder.encode(name);
    if (nameBytes.length > 0xffff) fail(`tensor name "${name.slice(0, 20)}…" is longer than 65535 bytes`);
    return { info: info!, tensor, nameBytes, byteLength: count * info!.itemSize };
  });
  let size = 8;
  for (const layout of layouts) {
    size =
      align8(size + 8 + 8 * layout.tensor.shape.length + layout.nameBytes.length) +
      8 +
      align8(layout.byteLength);
  }
  // Uninitialised memory, so every byte below is written, padding included. A zero-filled
  // allocation of a 1 MiB frame cost 2-3 ms here, mostly page faults on fresh pages, ten times the
  // copy itself; allocUnsafeSlow is never pooled, so data offsets stay 8-aligned from byte 0.
  const bytes = new Uint8Array(Buffer.allocUnsafeSlow(size).buffer, 0, size);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, frameMagic, true);
  view.setUint32(4, layouts.length, true);
  let offset = 8;
  for (const { info, tensor, nameBytes, byteLength } of layouts) {
    view.setUint8(offset, info.code);
    view.setUint8(offset + 1, tensor.shape.length);
    view.setUint16(offset + 2, nameBytes.length, true);
    view.setUint32(offset + 4, 0, true);
    offset += 8;
    for (const dimension of tensor.shape) {
      view.setBigUint64(offset, BigInt(dimension), true);
      offset += 8;
    }
    bytes.set(nameBytes, offset);
    bytes.fill(0, offset + nameBytes.length, align8(offset + nameBytes.length));
    offset = align8(offset + nameBytes.length);
    view.setBigUint64(offset, BigInt(byteLength), true);
    offset += 8;
    bytes.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, byteLength), offset);
    bytes.fill(0, offset + byteLength, offset + align8(byteLength));
    offset += align8(byteLength);
  }
  return bytes;
}

/**
 * Decodes a frame. Tensor data are views into `bytes` when aligned (always, for records from a
 * RingReader), copies otherwise.
 */
export function decodeTensorFrame(bytes: Uint8Array): TensorFrame {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const need = (offset: number, length: number, what: string) => {
    if (offset + length > bytes.byteLength)
      fail(`frame of ${bytes.byteLength} bytes is truncated in ${what}`);
  };
  need(0, 8, 'the frame header');
  if (view.getUint32(0, true) !== frameMagic) {
    fail(
      `record of ${bytes.byteLength} bytes does not start with the tensor-frame magic MTF1 (wrong codec, or corrupt)`,
    );
  }
  const count = view.getUint32(4, true);
  const frame: TensorFrame = {};
  let offset = 8;
  for (let index = 0; index < count; index++) {
    need(offset, 8, `the header of tensor #${index}`);
    const code = view.getUint8(offset);
    const rank = view.getUint8(offset + 1);
    const nameLength = view.getUint16(offset + 2, true);
    const dtype = dtypeByCode.get(code) ?? fail(`tensor #${index}: unknown dtype code ${code}`);
    if (rank > maxRank) fail(`tensor #${index}: rank ${rank} exceeds ${maxRank}`);
    offset += 8;
    need(offset, 8 * rank + nameLength, `the shape and name of tensor #${index}`);
    const shape: number[] = [];
    for (let axis = 0; axis < rank; axis++) {
      const dimension = view.getBigUint64(offset, true);
      if (dimension > BigInt(Number.MAX_SAFE_INTEGER))
        fail(`tensor #${index}: dimension ${dimension} is too large`);
      shape.push(Number(dimension));
      offset += 8;
    }
    let name: string;
    try {
      name = decoder.decode(bytes.subarray(offset, offset + nameLength));
    } catch {
      return fail(`tensor #${index}: name is not valid UTF-8`);
    }
    offset = align8(offset + nameLength);
    need(offset, 8, `the data length of tensor "${name}"`);
    const byteLength = view.getBigUint64(offset, true);
    offset += 8;
    const info = dtypes[dtype];
    const elements = elementCount(shape, `tensor "${name}"`);
    if (byteLength !== BigInt(elements * info.itemSize)) {
      fail(
        `tensor "${name}": ${dtype} shape [${shape.join(', ')}] needs ${elements * info.itemSize} bytes, the frame says ${byteLength}`,
      );
    }
    const length = Number(byteLength);
    need(offset, length, `the data of tensor "${name}"`);
    const absolute = bytes.byteOffset + offset;
    const data =
      absolute % info.itemSize === 0
        ? info.make(bytes.buffer, absolute, elements)
        : info.make(bytes.slice(offset, offset + length).buffer, 0, elements);
    frame[name] = { dtype, shape, data };
    offset += align8(length);
  }
  if (offset !== bytes.byteLength)
    fail(`frame declares ${offset} bytes but the record has ${bytes.byteLength}`);
  return frame;
}

export const tensorFrameCodec: Codec<TensorFrame> = {
  name: 'tensor',
  encode: encodeTensorFrame,
  decode: decodeTensorFrame,
};
