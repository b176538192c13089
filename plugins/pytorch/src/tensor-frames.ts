/**
 * Building tensor frames for torch roles, and the codec of a prediction role (tensor frames in,
 * msgpack records out). Frames are what `millrace_torch.FrameDataset` and the prediction entry read.
 */

import { msgpackCodec, type Tensor, type TensorFrame, tensorFrameCodec } from '@millrace/bridge-shm';
import { type Codec, ConfigError } from '@millrace/core';

/** A frame field: a number (a float32 scalar), numbers (a float32 vector), or a tensor as is. */
export type FrameField = number | ArrayLike<number> | Tensor;

function isTensor(value: FrameField): value is Tensor {
  return (
    typeof value === 'object' && value !== null && 'dtype' in value && 'shape' in value && 'data' in value
  );
}

/**
 * `{ features: Float32Array, label: 1 }` → a tensor frame: numbers become float32 scalars, arrays
 * float32 vectors (torch's default dtype); pass a `Tensor` for anything else (e.g. int32 ids).
 */
export function tensorFrame(fields: Readonly<Record<string, FrameField>>): TensorFrame {
  const frame: TensorFrame = {};
  for (const [name, value] of Object.entries(fields)) {
    if (typeof value === 'number') {
      frame[name] = { dtype: 'float32', shape: [], data: Float32Array.of(value) };
    } else if (isTensor(value)) {
      frame[name] = value;
    } else if (value && typeof value.length === 'number') {
      const data = value instanceof Float32Array ? value : Float32Array.from(value);
      frame[name] = { dtype: 'float32', shape: [data.length], data };
    } else {
      throw new ConfigError([{ path: name, message: 'must be a number, an array of numbers or a Tensor' }], {
        subject: 'tensorFrame fields',
      });
    }
  }
  return frame;
}

/** An int32 scalar tensor, for ids and keys that should come back with a prediction. */
export function int32Scalar(value: number): Tensor {
  return { dtype: 'int32', shape: [], data: Int32Array.of(value) };
}

/** What the Python prediction role emits per input record. */
export type TorchPrediction = Record<string, unknown> & { prediction: number[] };

/** A prediction role's codec: tensor frames to the runner, msgpack records back. */
export const torchPredictionCodec: Codec<TensorFrame | TorchPrediction> = {
  name: 'tensor-in/msgpack-out',
  encode: (value) => tensorFrameCodec.encode(value as TensorFrame),
  decode: (bytes) => msgpackCodec.decode(bytes) as TorchPrediction,
};
