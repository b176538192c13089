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
export { type LocalCluster, type LocalClusterOptions, launchLocalCluster } from './local-cluster.js';
export {
  type ConsoleLoggerOptions,
  childLogger,
  createConsoleLogger,
  type LogLevel,
  silentLogger,
} from './logger.js';
export {
  type AddAMRoleOptions,
  type AddRoleOptions,
  addAMRole,
  addRole,
  type EmbeddedDataflow,
  loadRecordTransport,
  type MLCluster,
  mlOperator,
  openRunnerChannels,
  pipeTransport,
  type RecordPumps,
  RecordQueue,
  type RecordTransport,
  type RecordTransportChoice,
  type RecordTransportSetup,
  type RunnerChannels,
  type RunnerInput,
  type RunnerOutput,
  roleJsonCodec,
  type StreamProcessRunnerOptions,
  streamProcessRunner,
} from './ml-operator/index.js';
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
export {
  millraceEnvironment,
  type ProcessOutput,
  type ProcessRunnerOptions,
  parseMetricsLine,
  processRunner,
} from './process-runner.js';
export {
  describeExit,
  type ProcessExit,
  runnerResultOf,
  type SupervisedProcess,
  type SuperviseProcessOptions,
  superviseProcess,
} from './process-supervisor.js';
export {
  fromWireClusterSpec,
  fromWireFailure,
  toMillraceError,
  toWireClusterSpec,
} from './protocol-mapping.js';
