// The transport contract is core's (the ring of @millrace/bridge-shm implements it too).
export type { RecordPumps, RecordTransport, RecordTransportSetup } from '@millrace/core';
// The process supervisor and the runner environment live in @millrace/runner-kit (bridges and
// engines share them); re-exported here so runtime users keep one import.
export {
  describeExit,
  millraceEnvironment,
  type ProcessExit,
  parseMetricsLine,
  type RunnerLineOutput,
  type RunnerOutputLine,
  type RunnerOutputRoute,
  routeRunnerOutput,
  runnerLineSink,
  runnerResultOf,
  type SupervisedProcess,
  type SuperviseProcessOptions,
  superviseProcess,
} from '@millrace/runner-kit';
export { addressRoutingTo } from './advertise-host.js';
export {
  ApplicationManagerConnection,
  type ApplicationManagerConnectionOptions,
  type ClusterWatch,
} from './am-client.js';
export {
  ApplicationManager,
  type ApplicationManagerOptions,
  type ObservationListener,
} from './application-manager.js';
export { createGenericEngine, type GenericEngineOptions, genericEngine } from './generic-engine.js';
export {
  formatJoinUrl,
  hostOfAddress,
  isLoopbackHost,
  type JoinTarget,
  parseJoinUrl,
} from './join-url.js';
export { type RemovedLeftovers, removeLeftoversOfDeadProcesses } from './leftovers.js';
export { type LocalCluster, type LocalClusterOptions, launchLocalCluster } from './local-cluster.js';
export {
  type ConsoleLoggerOptions,
  childLogger,
  createConsoleLogger,
  defaultLogFormat,
  type LogFormat,
  type LogLevel,
  logFormats,
  parseLogFormat,
  silentLogger,
} from './logger.js';
export {
  type AddAMRoleOptions,
  type AddRoleOptions,
  addAMRole,
  addRole,
  type EmbeddedDataflow,
  loadRingTransport,
  type MLCluster,
  mlOperator,
  type OpenRunnerChannelsOptions,
  onInputCheckpoint,
  openRunnerChannels,
  pipeTransport,
  RecordQueue,
  type RecordTransportChoice,
  type ReplayOptions,
  type RunnerChannels,
  type RunnerInput,
  type RunnerOutput,
  type RuntimeAddAMRoleOptions,
  roleJsonCodec,
  type StreamProcessRunnerOptions,
  streamProcessRunner,
} from './ml-operator/index.js';
export {
  type ClusterHostSettings,
  clusterHostSettings,
  defaultJoinWaitMs,
  defaultOutcomeWaitMs,
  joinUrlFileName,
  joinUrlPath,
  parseAmListenAddress,
  publishJoinUrl,
  setClusterHostSettings,
} from './multi-host.js';
export {
  NodeAgent,
  type NodeAgentEvent,
  type NodeAgentOptions,
  type NodeAgentOutcome,
} from './node-agent.js';
export {
  adoptsReservedSockets,
  type PortReservation,
  reservePorts,
  takeReservedSockets,
} from './port-reservation.js';
export { type ProcessOutput, type ProcessRunnerOptions, processRunner } from './process-runner.js';
export {
  fromWireClusterSpec,
  fromWireFailure,
  toMillraceError,
  toWireClusterSpec,
} from './protocol-mapping.js';
export {
  certificateFingerprint,
  createSelfSignedIdentity,
  loadTlsIdentity,
  type TlsIdentity,
} from './tls-identity.js';
