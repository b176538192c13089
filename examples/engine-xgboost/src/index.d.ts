import type { MLFramework, Runner } from '@millrace/core';

export declare const trackerRole: 'tracker';
export declare const workerRole: 'worker';
export declare const trackerPort: 'tracker';

export interface XgboostTrackerOptions {
  /** The Python that imports xgboost. Default `/usr/bin/python3` (Debian's python3-xgboost). */
  python?: string;
  /** How long a stopped tracker may take before it is killed. Default 5000 ms. */
  gracePeriodMs?: number;
}

export interface XgboostWorkerOptions extends XgboostTrackerOptions {
  /** The worker's Python script; relative paths resolve against `cwd`. */
  script: string;
  /** Arguments after the script. */
  args?: readonly string[];
  /** Working directory of the worker process. Default: this process's. */
  cwd?: string;
}

export interface XgboostEngineSettings {
  /** The engine's name in cluster configs. Default `xgboost`. */
  name?: string;
}

export declare function xgboostTracker(options?: XgboostTrackerOptions): Runner;
export declare function xgboostWorker(options: XgboostWorkerOptions): Runner;
export declare function createXgboostEngine(settings?: XgboostEngineSettings): MLFramework;
export declare const xgboost: MLFramework;
export default xgboost;
