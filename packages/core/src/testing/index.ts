export { conformanceScenarios } from './conformance.js';
export type {
  ClusterLauncher,
  ConformanceScenario,
  ConformanceTarget,
  LaunchedCluster,
  LaunchOptions,
  ScriptedBehaviour,
} from './conformance.js';
