export {
  createTensorflowEngine,
  type TensorflowEngine,
  type TensorflowSettings,
  type TensorflowSettingsInput,
  tensorflow,
  tensorflowSettingsSchema,
} from './engine.js';
export { buildTfConfig, type TfConfig, tensorflowPortName, tfConfigJson } from './tf-config.js';
