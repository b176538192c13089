export {
  latestModelVersion,
  ModelFollower,
  type ModelFollowerOptions,
  type ModelVersionPolicy,
  modelVersionNumbers,
  modelVersionsDirectory,
  type PublishModelVersionOptions,
  publishModelVersion,
  readModelVersion,
  type VersionedModel,
} from '@millrace/runner-kit';
export { type BackendName, useBackend, wasmBinaryDirectory } from './backend.js';
export {
  createTensorflowEngine,
  type TensorflowEngine,
  type TensorflowSettings,
  type TensorflowSettingsInput,
  tensorflow,
  tensorflowSettingsSchema,
} from './engine.js';
export {
  type CheckpointPointer,
  checkpointPointerFile,
  directoryLoader,
  directorySaver,
  latestCheckpoint,
  loadLayersModelFrom,
  ModelLoadError,
  positionsEveryShardHolds,
  saveModelTo,
  writeCheckpoint,
} from './model-io.js';
export { ModelPredictor, type PredictorOptions } from './model-predictor.js';
export { ParameterServer, type ParameterServerOptions } from './parameter-server.js';
export {
  type FollowOptions,
  type GatedVersion,
  type HeldOutSet,
  type PredictionOptions,
  type PredictionResult,
  predictWithTensorflow,
} from './prediction-operator.js';
export {
  type PredictionClusterOptions,
  type PredictionClusterOptionsInput,
  predictionClusterOptionsSchema,
} from './prediction-options.js';
export {
  type PredictionModule,
  PredictionRecordError,
  type PredictionWorkerSummary,
} from './prediction-worker.js';
export { ParameterServerClient, type ParameterServerClientOptions } from './ps-client.js';
export { EmbeddingIdError } from './serving-model.js';
export { ServingModelError } from './serving-plan.js';
export { shardVariables } from './sharding.js';
export { tensorflowPredictor } from './tensorflow-predictor.js';
export { tensorflowTrainer, trainingProcessPath } from './tensorflow-trainer.js';
export { buildTfConfig, type TfConfig, tensorflowPortName, tfConfigJson } from './tf-config.js';
export type { Batch, BatchContext, Example, TrainingModule } from './training-module.js';
export { runTrainingNode, type TrainingNodeContext, type WorkerSummary } from './training-node.js';
export {
  type TrainingOptions,
  type TrainingOptionsInput,
  trainingOptionsSchema,
} from './training-options.js';
