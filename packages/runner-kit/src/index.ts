export {
  FollowedModel,
  type FollowedModelEvents,
  type FollowedModelOptions,
  type FollowOptions,
  type GatedVersion,
  type HeldOutSet,
  heldOutLoss,
} from './followed-model.js';
export { encodeFrames, FrameDecoder } from './frames.js';
export {
  ModelFollower,
  type ModelFollowerOptions,
  type ModelVersionPolicy,
  type VersionedModel,
} from './model-follower.js';
export {
  latestModelVersion,
  modelVersionNumbers,
  modelVersionsDirectory,
  type PublishModelVersionOptions,
  publishModelVersion,
  readModelVersion,
} from './model-versions.js';
export { type PipeInputPump, pumpChannelIntoPipe, pumpPipeIntoChannel } from './pipe-pump.js';
export {
  describeExit,
  type ProcessExit,
  runnerResultOf,
  type SupervisedProcess,
  type SuperviseProcessOptions,
  superviseProcess,
} from './process-supervisor.js';
export {
  type InputPump,
  type InputPumpOptions,
  type OutputPump,
  type OutputPumpOptions,
  type PumpOutcome,
  pumpChannelIntoRing,
  pumpRingIntoChannel,
  type RingSink,
  type RingSource,
} from './ring-pump.js';
export { environmentName, millraceEnvironment, parseMetricsLine } from './runner-environment.js';
export {
  type RunnerLineOutput,
  type RunnerOutputLine,
  type RunnerOutputRoute,
  routeRunnerOutput,
  runnerLineSink,
} from './runner-output.js';
