// addRole's default codec: core's jsonCodec itself (one JSON codec), under the name runtime exported.
export { jsonCodec as roleJsonCodec } from '@millrace/core';
export {
  type AddAMRoleOptions,
  type AddRoleOptions,
  addAMRole,
  addRole,
  type EmbeddedDataflow,
  type MLCluster,
  mlOperator,
  onInputCheckpoint,
  type ReplayOptions,
  type RuntimeAddAMRoleOptions,
} from './ml-operator.js';
export { pipeTransport } from './pipe-transport.js';
export { RecordQueue } from './record-queue.js';
export {
  type OpenRunnerChannelsOptions,
  openRunnerChannels,
  type RunnerChannels,
  type RunnerInput,
  type RunnerOutput,
} from './runner-channels.js';
export { type StreamProcessRunnerOptions, streamProcessRunner } from './stream-process-runner.js';
export { loadRingTransport, type RecordTransportChoice } from './transport-choice.js';
