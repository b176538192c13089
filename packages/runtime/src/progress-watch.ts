/**
 * Stall detection for one node's runner. A runner makes progress when it reports a metric or
 * consumes a record; a runner waiting for a record that has not arrived yet is starved, not
 * stalled, so a pending read counts as progress too. When neither happens for `timeoutMs`, the
 * watch calls `onStall` once per runner start (dl-on-flink#44: a restarted Python worker sat idle
 * forever while its heartbeats said it was fine).
 */
import type { InputChannel } from '@millrace/core';

export interface ProgressWatchOptions {
  timeoutMs: number;
  onStall: (silentMs: number) => void;
  now?: (() => number) | undefined;
}

export class ProgressWatch {
  #lastProgress = 0;
  #pendingReads = 0;
  #timer: NodeJS.Timeout | undefined;
  #now: () => number = Date.now;

  /** Notes progress: a metric reported or a record consumed. */
  progress(): void {
    this.#lastProgress = this.#now();
  }

  /** Starts watching a runner that just started; the previous watch (if any) ends. */
  start(options: ProgressWatchOptions): void {
    this.stop();
    this.#now = options.now ?? Date.now;
    this.#lastProgress = this.#now();
    // Checked often enough that a stall is declared within a quarter of the timeout (≤ 1 s late).
    const every = Math.max(10, Math.min(1_000, Math.floor(options.timeoutMs / 4)));
    this.#timer = setInterval(() => {
      const now = this.#now();
      if (this.#pendingReads > 0) this.#lastProgress = now;
      const silentMs = now - this.#lastProgress;
      if (silentMs >= options.timeoutMs) {
        this.stop();
        options.onStall(silentMs);
      }
    }, every);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** The input channel as the runner sees it: every read it makes counts as progress. */
  observeInput(input: InputChannel): InputChannel {
    const observed = async <T>(read: Promise<T>): Promise<T> => {
      this.#pendingReads += 1;
      try {
        return await read;
      } finally {
        this.#pendingReads -= 1;
        this.progress();
      }
    };
    const readBatch = (maxRecords: number) => observed(input.readBatch(maxRecords));
    const progress = () => this.progress();
    return {
      readBatch,
      ...(input.readPacked
        ? { readPacked: (maxRecords: number) => observed(input.readPacked!(maxRecords)) }
        : {}),
      // The ring's fill is the caller's to show (a role's metrics); passed through as it is.
      ...(input.setDownstreamFill ? { setDownstreamFill: input.setDownstreamFill.bind(input) } : {}),
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const batch = await readBatch(256);
          if (batch === null) return;
          for (const record of batch) {
            yield record;
            progress(); // the runner asked for the next one: this one is consumed
          }
        }
      },
    };
  }
}
