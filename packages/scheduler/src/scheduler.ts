import type { AppHandle } from './app-handle.js';

/** Where an application stands, as its cluster manager and its hosts' exit files tell it. */
export type AppState = 'pending' | 'running' | 'succeeded' | 'failed' | 'stopped';

export const terminalStates: ReadonlySet<AppState> = new Set(['succeeded', 'failed', 'stopped']);

export interface HostStatus {
  index: number;
  state: AppState;
  /** The host process's exit code, once it exited. */
  exitCode?: number | undefined;
  /** The signal that ended it, e.g. `SIGKILL`. */
  signal?: string | undefined;
}

export interface AppStatus {
  handle: string;
  scheduler: AppHandle['scheduler'];
  name: string;
  state: AppState;
  /** The cluster manager's own word for the state (`RUNNING`, `CANCELLED`, `Complete`…). */
  schedulerState?: string | undefined;
  hosts: HostStatus[];
  /** Why it failed or was stopped, when known: the failed host and the last lines it wrote. */
  message?: string | undefined;
}

/** One scheduled application: N tasks, each one host of `millrace run JOB --hosts N --host-index I`. */
export interface SubmitRequest {
  /** The job module as `millrace run` takes it (absolute path, or a path inside the image). */
  job: string;
  /** Arguments passed on to the job after its path. */
  jobArguments: readonly string[];
  hosts: number;
  /** Application name (RFC 1123); defaults to the job's file name. */
  name: string;
  /**
   * The command that starts the CLI on each host, before `run`: e.g. `[process.execPath,
   * '/…/millrace/dist/bin.js']` on machines that share this installation, `['millrace']` in an image.
   */
  millraceCommand: readonly string[];
  /** Environment every host gets on top of what the scheduler passes. */
  environment?: Readonly<Record<string, string>>;
}

export interface HostLog {
  host: number;
  text: string;
}

/** What `millrace submit` does with one cluster manager. Each scheduler is one file under its folder. */
export interface Scheduler<Options> {
  readonly name: AppHandle['scheduler'];
  /** What would be submitted (the sbatch script, manifests as YAML), submitting nothing. */
  describe(request: SubmitRequest, options: Options): Promise<string>;
  /** Submits and returns the handle's text form. */
  submit(request: SubmitRequest, options: Options): Promise<string>;
  status(handle: AppHandle): Promise<AppStatus>;
  logs(handle: AppHandle, options?: { host?: number }): Promise<HostLog[]>;
  /** Cancels the application and returns once the cluster manager reports it ended (bounded). */
  stop(handle: AppHandle): Promise<AppStatus>;
}
