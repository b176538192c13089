export { ConnectedStreams, DataStream, KeyedStream } from './data-stream.js';
export { OperatorError, previewRecord } from './errors.js';
export { type FunctionReference, functionReference, isFunctionReference } from './function-reference.js';
export { checkJobHosts, isHostShare, type JobHosts, processHosts, setProcessHosts } from './hosts.js';
export { type ExecuteOptions, Job, type JobOptions, type JobResult, type RestartStrategy } from './job.js';
export type { JobEvent, JobEventListener, JobStatus } from './job-events.js';
export {
  defineJobModule,
  findJobModule,
  isJobModule,
  isMainModule,
  type JobModule,
  type JobModuleContext,
  type RunJobModuleOptions,
  runJobModule,
} from './job-module.js';
export type {
  OperatorFactory,
  Output,
  SourceFactory,
  SourceOperator,
  StreamOperator,
  SubtaskContext,
  SubtaskInfo,
} from './operator.js';
export type { CoProcessFunction } from './operators/co-process.js';
export type {
  KeyedProcessContext,
  KeyedProcessFinishContext,
  KeyedProcessFunction,
  KeyedState,
} from './operators/keyed-process.js';
export type { TableJoiner, TableJoinOptions } from './operators/table-join.js';
export type { TumblingWindowOptions, WindowAggregator, WindowInfo } from './operators/tumbling-window.js';
export type { FunctionOperatorOptions, MapBatchesOptions, OperatorOptions } from './options.js';
export type { Key } from './runtime/hash.js';
export type { OperatorMetrics, SubtaskMetrics, SubtaskSnapshot } from './runtime/metrics.js';
export { CollectedRecords, type FileSinkOptions } from './sinks/sinks.js';
export type { CsvColumnType, CsvRecord } from './sources/csv.js';
export type { GeneratorOptions } from './sources/generator-source.js';
export type { IterableSourceInput } from './sources/iterable-source.js';
