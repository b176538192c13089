export type {
  ClusterLauncher,
  ConformanceScenario,
  ConformanceTarget,
  LaunchedCluster,
  LaunchOptions,
  ScriptedBehaviour,
} from './conformance.js';
export { conformanceScenarios } from './conformance.js';
