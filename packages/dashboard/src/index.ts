export {
  type DashboardServer,
  type DashboardServerOptions,
  parseListenAddress,
  startDashboardServer,
} from './dashboard-server.js';
export { type DashboardThread, startDashboardThread } from './dashboard-thread.js';
export {
  type ClusterStatusReport,
  type ClusterView,
  JobView,
  type JobViewEvent,
  type JobViewSnapshot,
  medianOf,
  type NodeView,
  type OperatorCounters,
  type OperatorView,
  type RestartView,
  throughputMetricNames,
} from './job-view.js';
export { createMetricsRegistry } from './prometheus.js';
