// core's JSON codec (the one TypeScript implementation), re-exported with the other codecs.
export { jsonCodec } from '@millrace/core';
export { ringInputChannel, ringOutputChannel } from './channels.js';
export { codecByName } from './codecs/codec-registry.js';
export { msgpackCodec } from './codecs/msgpack-codec.js';
export { rawCodec } from './codecs/raw-codec.js';
export {
  decodeTensorFrame,
  encodeTensorFrame,
  type Tensor,
  type TensorData,
  type TensorDType,
  type TensorFrame,
  tensorFrameCodec,
} from './codecs/tensor-frame-codec.js';
export {
  type CreateRingOptions,
  createRing,
  createRingSync,
  type RingLocation,
  removeRingDirectories,
  sweepStaleRingDirectories,
} from './create-ring.js';
export { ChannelClosedError, RecordTooLargeError } from './errors.js';
export { pythonModuleDirectory } from './python-module.js';
export type { RingOpenOptions } from './ring-options.js';
export { RingReader } from './ring-reader.js';
export { RingWriter } from './ring-writer.js';
export {
  createRecordTransport,
  defaultRingCapacityBytes,
  type RingTransport,
  type RingTransportOptions,
} from './runner-transport.js';
export {
  openRunnerChannels,
  type RingRunnerChannels,
  type RingRunnerChannelsOptions,
} from './runner-transport-channels.js';
