/**
 * The input of one stream-mode role subtask, numbered and replayable.
 *
 * Every record the subtask receives gets a position: 1, 2, 3 … in arrival order (per subtask).
 * Each runner start reads through its own *attempt* view. A view that is closed (its runner ended
 * or is being stopped) hands out nothing more: a read still pending in a dead runner's pump
 * resolves `null` instead of taking records (the loss of issue 11).
 *
 * With replay on, a record stays in the buffer after it was read until a checkpoint covering its
 * position is acknowledged (`acknowledge(position)`). A new attempt starts reading right after the
 * acknowledged position, so the restarted runner receives exactly the records after its
 * checkpoint, in the original order, then the rest of the stream. With replay off a record leaves
 * the buffer when it is read, and a new attempt continues after the last record read (what a dead
 * runner had taken is gone: at-most-once, counted in `recordsNotReplayed`).
 *
 * Memory is bounded either way: `maxRecords` and `maxBytes` cap what the buffer holds (unread plus
 * read-but-unacknowledged), and `maxUnread` caps the read-ahead alone (the same with replay on or
 * off, so replay only adds the records awaiting a checkpoint); a writer waits while it is full,
 * which pushes back on the pipeline.
 * When everything held has been read and only a checkpoint can make room, the wait is bounded by
 * `acknowledgeTimeoutMs`: then the input fails with an error saying what to change.
 */
import {
  CancelledError,
  ConfigError,
  type InputChannel,
  MillraceTimeoutError,
  type PackedRecords,
  type ReplayOptions,
} from '@millrace/core';
import { RecordSegments } from './record-segments.js';

export interface ReplayInputOptions extends ReplayOptions {
  /**
   * Records not yet handed to a runner before a writer waits (the read-ahead; the role's
   * queueCapacity). Default: `maxRecords`. Replay adds only what was read and not yet
   * acknowledged; it does not let the pipeline run further ahead of the runner.
   */
  maxUnread?: number | undefined;
  /** Keep read records until a checkpoint covers them (true), or drop them when read. */
  replay: boolean;
  /** Names the subtask in errors, e.g. `worker[0]`. */
  subject: string;
}

/** One runner start's view of the input. */
export interface AttemptInput {
  readonly channel: InputChannel;
  /** The position this attempt resumes after: its first record is `resumePosition + 1`. */
  readonly resumePosition: number;
  /** Hands out nothing more; a pending read resolves `null`. Idempotent. */
  close(): void;
}

/** An input that gives each runner start its own view and takes checkpoint acknowledgements. */
export interface AttemptInputSource {
  openAttempt(): AttemptInput;
  /** A checkpoint covering positions 1 … `position` was written. */
  acknowledge(position: number): void;
}

export function isAttemptInputSource(value: unknown): value is AttemptInputSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as AttemptInputSource).openAttempt === 'function' &&
    typeof (value as AttemptInputSource).acknowledge === 'function'
  );
}

/**
 * One acknowledgement: positions `previous + 1` … `position` are covered by a checkpoint.
 * `records` are those records, encoded, when the buffer still held them (replay on); empty with
 * replay off, where records leave the buffer as they are read.
 */
export type AcknowledgementListener = (acknowledgement: {
  previous: number;
  position: number;
  records: readonly Uint8Array[];
}) => void;

const defaultMaxRecords = 65_536;
const defaultMaxBytes = 64 * 1024 * 1024;
const defaultAcknowledgeTimeoutMs = 120_000;

export class ReplayInput implements AttemptInputSource {
  readonly replay: boolean;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #maxUnread: number;
  readonly #acknowledgeTimeoutMs: number;
  readonly #subject: string;
  /** Held records: positions `#base + 1` … `#written`, packed (record-segments.ts). */
  #records = new RecordSegments();
  #base = 0;
  #bytes = 0;
  #written = 0;
  /** Highest position handed to a runner (in the current attempt's line of reading). */
  #read = 0;
  /** Highest position ever handed to any runner. */
  #highestRead = 0;
  #acknowledged = 0;
  #replayed = 0;
  #notReplayed = 0;
  #ended = false;
  #refusing = false;
  #failure: unknown = null;
  #attempt: { closed: boolean; wake: () => void } | undefined;
  #readers: (() => void)[] = [];
  #writers: (() => void)[] = [];
  #acknowledgeTimer: NodeJS.Timeout | undefined;
  readonly #peak = { records: 0, bytes: 0 };
  /** How full the current runner's own buffer is (its input ring), when its pump says. */
  #downstreamFill: (() => number) | undefined;
  readonly #listeners = new Set<AcknowledgementListener>();

  constructor(options: ReplayInputOptions) {
    this.replay = options.replay;
    this.#maxRecords = positiveInteger(options.maxRecords ?? defaultMaxRecords, 'replay.maxRecords');
    this.#maxBytes = positiveInteger(options.maxBytes ?? defaultMaxBytes, 'replay.maxBytes');
    this.#maxUnread = positiveInteger(options.maxUnread ?? this.#maxRecords, 'queueCapacity');
    this.#acknowledgeTimeoutMs = positiveInteger(
      options.acknowledgeTimeoutMs ?? defaultAcknowledgeTimeoutMs,
      'replay.acknowledgeTimeoutMs',
    );
    this.#subject = options.subject;
  }

  /** Records received from the pipeline (positions 1 … recordsIn). */
  get recordsIn(): number {
    return this.#written;
  }

  /** Distinct records handed to a runner at least once (replays counted once). */
  get recordsDelivered(): number {
    return this.#highestRead;
  }

  get acknowledgedPosition(): number {
    return this.#acknowledged;
  }

  /** Records handed out a second (or later) time after a restart. */
  get recordsReplayed(): number {
    return this.#replayed;
  }

  /** Replay off: records a stopped runner had taken without a checkpoint covering them. */
  get recordsNotReplayed(): number {
    return this.#notReplayed;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Records and bytes held now (for tests and metrics). */
  get held(): { records: number; bytes: number } {
    return { records: this.#written - this.#base, bytes: this.#bytes };
  }

  /**
   * How full the buffer is (0..1): the largest share of any of its bounds (unread records of
   * `maxUnread`, held records of `maxRecords`, held bytes of `maxBytes`). At 1 the role operator
   * waits for the runner (backpressure).
   */
  get fill(): number {
    return Math.min(
      1,
      Math.max(
        (this.#written - this.#read) / this.#maxUnread,
        (this.#written - this.#base) / this.#maxRecords,
        this.#bytes / this.#maxBytes,
      ),
    );
  }

  /**
   * How full the buffer the current runner's records go on into is (0..1): the shared-memory ring
   * its pump writes, when it has one; undefined otherwise.
   */
  get downstreamFill(): number | undefined {
    return this.#downstreamFill?.();
  }

  /** The most records and bytes held at once so far. */
  get peak(): { records: number; bytes: number } {
    return { ...this.#peak };
  }

  /** Called after each acknowledgement that advances the acknowledged position. */
  onAcknowledged(listener: AcknowledgementListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Adds records, waiting while the buffer is full. Resolves with how many of them were refused:
   * 0, unless `refuseWrites()` was called (the node left, so nobody would read them).
   */
  async writeBatch(records: readonly Uint8Array[]): Promise<number> {
    let index = 0;
    while (index < records.length) {
      while (this.#full() && this.#failure === null && !this.#refusing) {
        this.#watchAcknowledgement();
        await new Promise<void>((resolve) => this.#writers.push(resolve));
      }
      if (this.#failure !== null) throw this.#failure;
      if (this.#refusing) return records.length - index;
      if (this.#ended) throw new CancelledError('The record queue has ended; no more records are accepted');
      // As many as fit (the bounds are checked before each record, as a writer of one would).
      let end = index;
      let bytes = this.#bytes;
      while (end < records.length && !this.#wouldBeFull(end - index, bytes)) {
        bytes += records[end]!.byteLength;
        end += 1;
      }
      this.#bytes += this.#records.append(records, index, end);
      this.#written += end - index;
      index = end;
      const held = this.#written - this.#base;
      if (held > this.#peak.records) this.#peak.records = held;
      if (this.#bytes > this.#peak.bytes) this.#peak.bytes = this.#bytes;
      this.#wake(this.#readers);
    }
    return 0;
  }

  async write(record: Uint8Array): Promise<void> {
    await this.writeBatch([record]);
  }

  /** From now on writes take nothing (a waiting write stops waiting) and report what they refused. */
  refuseWrites(): void {
    this.#refusing = true;
    this.#wake(this.#writers);
  }

  /** No more records: readers get the rest, then end-of-stream. */
  end(): void {
    this.#ended = true;
    this.#wake(this.#readers);
  }

  /** Fails waiting and future calls (cancellation, a dead peer, the job ending). */
  fail(reason: unknown = new CancelledError('The record queue was closed')): void {
    if (this.#failure !== null) return;
    this.#failure = reason;
    this.#records.clear();
    this.#base = this.#written;
    this.#bytes = 0;
    clearTimeout(this.#acknowledgeTimer);
    this.#wake(this.#readers);
    this.#wake(this.#writers);
  }

  openAttempt(): AttemptInput {
    this.#closeAttempt();
    if (this.replay) {
      // Rewind: the new runner gets everything after the last acknowledged checkpoint.
      this.#read = Math.max(this.#acknowledged, this.#base);
    } else {
      this.#notReplayed += Math.max(0, this.#read - this.#acknowledged);
      this.#acknowledged = Math.max(this.#acknowledged, this.#read);
    }
    const attempt = { closed: false, wake: () => {} };
    this.#attempt = attempt;
    const resumePosition = this.#read;
    const readBatch = (maxRecords: number) =>
      this.#take(attempt, maxRecords, (from, to) => this.#records.slice(from, to));
    const channel: InputChannel = {
      readBatch,
      readPacked: (maxRecords) =>
        this.#take(attempt, maxRecords, (from, to) => this.#records.packed(from, to)),
      setDownstreamFill: (read) => {
        if (this.#attempt === attempt) this.#downstreamFill = read;
      },
      async *[Symbol.asyncIterator]() {
        for (;;) {
          const batch = await readBatch(256);
          if (batch === null) return;
          yield* batch;
        }
      },
    };
    return {
      channel,
      resumePosition,
      close: () => {
        if (this.#attempt === attempt) this.#closeAttempt();
      },
    };
  }

  acknowledge(position: number): void {
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new ConfigError(
        [{ path: 'position', message: `must be a non-negative integer (got ${String(position)})` }],
        { subject: `${this.#subject} checkpointed(position)` },
      );
    }
    if (position > this.#highestRead) {
      throw new ConfigError(
        [
          {
            path: 'position',
            message: `is ${position} but only ${this.#highestRead} records were handed to the runner: acknowledge the count of records the checkpoint covers`,
          },
        ],
        { subject: `${this.#subject} checkpointed(position)` },
      );
    }
    if (position <= this.#acknowledged) return; // repeated or late: nothing new
    const previous = this.#acknowledged;
    this.#acknowledged = position;
    // The covered records as the buffer still holds them (replay on), before they are dropped.
    const from = Math.max(previous, this.#base);
    const covered = this.#listeners.size > 0 && position > from ? this.#records.slice(from, position) : [];
    this.#trim();
    for (const listener of this.#listeners) listener({ previous, position, records: covered });
  }

  /**
   * Waits for unread records and hands up to `maxRecords` of them to the runner, in the form
   * `view` gives them (one view each, or packed as stored; packed may give fewer).
   */
  async #take<Batch extends Uint8Array[] | PackedRecords>(
    attempt: { closed: boolean; wake: () => void },
    maxRecords: number,
    view: (from: number, to: number) => Batch,
  ): Promise<Batch | null> {
    for (;;) {
      if (attempt.closed) return null;
      if (this.#failure !== null) throw this.#failure;
      if (this.#written > this.#read) {
        const from = this.#read;
        const batch = view(from, Math.min(this.#written, from + Math.max(1, maxRecords)));
        this.#read += Array.isArray(batch) ? batch.length : batch.offsets.length - 1;
        if (from < this.#highestRead) this.#replayed += Math.min(this.#highestRead, this.#read) - from;
        this.#highestRead = Math.max(this.#highestRead, this.#read);
        if (this.replay)
          this.#wake(this.#writers); // read-ahead room
        else this.#trim();
        return batch;
      }
      if (this.#ended) return null;
      if (this.#full()) this.#watchAcknowledgement();
      await new Promise<void>((resolve) => {
        attempt.wake = resolve;
        this.#readers.push(resolve);
      });
    }
  }

  /** Drops what no runner can need again: read records (replay off) or acknowledged ones. */
  #trim(): void {
    const upTo = this.replay ? Math.min(this.#acknowledged, this.#read) : this.#read;
    if (upTo <= this.#base) return;
    this.#bytes -= this.#records.dropThrough(upTo);
    this.#base = upTo;
    clearTimeout(this.#acknowledgeTimer);
    this.#acknowledgeTimer = undefined;
    this.#wake(this.#writers);
  }

  #full(): boolean {
    return this.#wouldBeFull(0, this.#bytes);
  }

  /** Full once `added` more records (making `bytes` in all) were taken; one record always fits. */
  #wouldBeFull(added: number, bytes: number): boolean {
    const held = this.#written - this.#base + added;
    return (
      held > 0 &&
      (held >= this.#maxRecords ||
        bytes >= this.#maxBytes ||
        this.#written + added - this.#read >= this.#maxUnread)
    );
  }

  /**
   * A full buffer whose records were all read can only drain through a checkpoint. Bound that
   * wait, so a runner that never acknowledges fails the role with a reason instead of hanging.
   */
  #watchAcknowledgement(): void {
    if (!this.replay || this.#acknowledgeTimer || this.#read < this.#written) return;
    this.#acknowledgeTimer = setTimeout(() => {
      this.#acknowledgeTimer = undefined;
      if (!this.#full() || this.#read < this.#written) return;
      const held = this.held;
      this.fail(
        new MillraceTimeoutError(
          'a checkpoint acknowledgement',
          this.#acknowledgeTimeoutMs,
          `${this.#subject}: the replay buffer is full (${held.records} records, ${held.bytes} bytes, all read by the runner) and no checkpoint covering them was acknowledged. Checkpoint more often (context.checkpointed(position) or the engine's checkpoint helper), raise replay.maxRecords / replay.maxBytes, or turn replay off for this role`,
        ),
      );
    }, this.#acknowledgeTimeoutMs);
    this.#acknowledgeTimer.unref();
  }

  #closeAttempt(): void {
    const attempt = this.#attempt;
    if (!attempt) return;
    attempt.closed = true;
    this.#attempt = undefined;
    this.#downstreamFill = undefined;
    attempt.wake();
  }

  #wake(waiters: (() => void)[]): void {
    const woken = waiters.splice(0);
    for (const resolve of woken) resolve();
  }
}

function positiveInteger(value: number, path: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError([{ path, message: `must be a positive integer (got ${String(value)})` }], {
      subject: 'addRole options',
    });
  }
  return value;
}
