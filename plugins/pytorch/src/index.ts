export { createPytorchEngine, type PytorchEngine, pytorch } from './engine.js';
export { loadOnnxModel, type OnnxModel, type OnnxModelOptions } from './onnx/onnx-model.js';
export {
  type OnnxPredictionOptions,
  type OnnxPredictionResult,
  onnxModelVersionFormat,
  predictWithOnnx,
} from './onnx/onnx-prediction-operator.js';
export {
  installHint as onnxRuntimeInstallHint,
  loadOnnxRuntime,
  type OnnxRuntime,
  type OnnxRuntimeImporter,
  type OnnxSession,
  type OnnxTensor,
  type OnnxValueMetadata,
} from './onnx/onnxruntime-loader.js';
export { pytorchPythonDirectory } from './python-directory.js';
export {
  type TorchFollowOptions,
  type TorchPredictionRunnerOptions,
  torchPredictionRunner,
} from './runners/torch-prediction-runner.js';
export { type TorchRecordCodec, type TorchRunnerOptions, torchRunner } from './runners/torch-runner.js';
export {
  type PytorchBackend,
  type PytorchEngineSettings,
  type PytorchEngineSettingsInput,
  parsePytorchEngineSettings,
  pytorchBackends,
  pytorchEngineSettingsSchema,
} from './settings.js';
export {
  type FrameField,
  int32Scalar,
  type TorchPrediction,
  tensorFrame,
  torchPredictionCodec,
} from './tensor-frames.js';
export {
  masterRole,
  nodesInRankOrder,
  rankOf,
  rendezvousPort,
  torchrunEnvironment,
  workerRole,
} from './torchrun-environment.js';
