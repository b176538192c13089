/**
 * How records cross between a NodeAgent and a runner process it spawns. A transport adds what the
 * child needs (extra file descriptors, environment variables naming them) and pumps records both
 * ways. The runner program never sees which transport is used: it opens its channels from the
 * environment the transport set (`MILLRACE_RECORDS_TRANSPORT` and the variables it names).
 *
 * In core because two packages implement it without knowing each other: `@millrace/runtime`'s
 * pipes and `@millrace/bridge-shm`'s shared-memory ring.
 */
import type { InputChannel, OutputChannel } from './runner.js';

export interface RecordTransportSetup {
  /** stdio entries for fd 3, 4 … of the child. */
  extraStdio: ('pipe' | 'ignore')[];
  env: Record<string, string>;
  /**
   * Starts moving records once the child runs; `stdio` is the child's stdio array
   * (`ChildProcess.stdio`: streams for the `pipe` entries).
   */
  connect(
    stdio: readonly unknown[],
    channels: { input?: InputChannel | undefined; output?: OutputChannel | undefined },
  ): RecordPumps;
  /** Releases what `setup` made (e.g. ring files) when the child never started. */
  discard?(): void;
}

export interface RecordPumps {
  /**
   * Settles when every record the child wrote was handed to `output` and the transport's
   * resources are released.
   */
  readonly outputDrained: Promise<void>;
  /** Set when the transport itself failed the node (e.g. a record too large for it). */
  readonly failure?: Error | undefined;
  /** Stops pumping (the child is gone). */
  stop(): void;
}

/**
 * One way records cross. `setup` runs before each runner process is spawned and returns what that
 * process needs, and the `connect` that pumps its records (so concurrent starts never mix up).
 */
export interface RecordTransport {
  readonly name: string;
  /**
   * `codec` is the role's codec name (`RunnerContext.codec`). A transport that labels its channels
   * (the ring header) writes each direction's name there (see `codecDirections`), so a
   * runner that opens them expecting another codec fails at open, naming both.
   */
  setup(options: { hasInput: boolean; hasOutput: boolean; codec?: string | undefined }): RecordTransportSetup;
}
