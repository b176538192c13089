/**
 * Sources over iterables and async iterables (arrays, generators, Node streams, a Kafka consumer).
 * Records are read a batch at a time; each full batch is flushed downstream (awaiting room, so a
 * slow pipeline slows the reads). Async sources also flush whatever they hold after `lingerMs`
 * without a full batch, so sparse streams are not held back. Cancelling the job stops reading
 * and calls the iterator's `return()`, which closes files and streams behind it.
 *
 * On N hosts every host iterates the whole input and keeps its share: the element at position p
 * (from 0) is host `p mod N`'s (see hosts.ts). File sources are iterables of lines, so the same
 * rule splits a file's lines, JSON lines and CSV rows.
 */
import { CancelledError, expectedRecordsCounter, StopLatch } from '@millrace/core';
import { isHostShare, type JobHosts, oneHost } from '../hosts.js';
import type { SourceFactory, SubtaskContext } from '../operator.js';

export type IterableInput<T> = Iterable<T> | AsyncIterable<T>;

/** An iterable, or a function returning a fresh one (needed for restarts). */
export type IterableSourceInput<T> = IterableInput<T> | (() => IterableInput<T>);

export interface IterableSourceSettings {
  batchSize: number;
  lingerMs: number;
  /** Whose share this source reads. Default: one host, everything. */
  hosts?: JobHosts;
}

const returnTimeoutMs = 1_000;

export function iterableSource<T>(
  input: IterableSourceInput<T>,
  settings: IterableSourceSettings,
): SourceFactory<T> {
  return () => ({
    async run(context) {
      const iterable = typeof input === 'function' ? input() : input;
      const hosts = settings.hosts ?? oneHost;
      // An array knows its length: this host's share of it is the progress's total.
      if (Array.isArray(iterable))
        context.count(
          expectedRecordsCounter,
          Math.max(0, Math.ceil((iterable.length - hosts.index) / hosts.count)),
        );
      if (Symbol.asyncIterator in iterable)
        await readAsync(iterable as AsyncIterable<T>, context, settings, hosts);
      else await readSync(iterable as Iterable<T>, context, settings.batchSize, hosts);
    },
  });
}

/** True when iterating `input` twice would not give the same records (a generator object, a stream). */
export function isOneShot(input: IterableSourceInput<unknown>): boolean {
  if (typeof input === 'function') return false;
  if (Array.isArray(input) || typeof input === 'string' || input instanceof Set || input instanceof Map)
    return false;
  const asIterator = input as { [Symbol.iterator]?: () => unknown; [Symbol.asyncIterator]?: () => unknown };
  if (typeof asIterator[Symbol.iterator] === 'function') return asIterator[Symbol.iterator]!() === input;
  return typeof asIterator[Symbol.asyncIterator] === 'function';
}

async function readSync<T>(
  iterable: Iterable<T>,
  context: SubtaskContext<T>,
  batchSize: number,
  hosts: JobHosts,
): Promise<void> {
  const { output, signal } = context;
  if (Array.isArray(iterable)) {
    // This host's elements are hosts.index, hosts.index + N, …; a batch holds batchSize of them.
    const stride = hosts.count;
    for (let start = hosts.index; start < iterable.length && !signal.aborted; start += batchSize * stride) {
      const end = Math.min(iterable.length, start + batchSize * stride);
      for (let i = start; i < end; i += stride) output.emit(iterable[i]);
      await output.flush();
    }
    return;
  }
  const iterator = iterable[Symbol.iterator]();
  let done = false;
  let position = 0;
  try {
    while (!done && !signal.aborted) {
      for (let n = 0; n < batchSize; ) {
        const next = iterator.next();
        if (next.done) {
          done = true;
          break;
        }
        if (isHostShare(hosts, position++)) {
          output.emit(next.value);
          n += 1;
        }
      }
      await output.flush();
    }
  } finally {
    if (!done) iterator.return?.();
  }
}

async function readAsync<T>(
  iterable: AsyncIterable<T>,
  context: SubtaskContext<T>,
  settings: IterableSourceSettings,
  hosts: JobHosts,
): Promise<void> {
  const { output, signal } = context;
  const iterator = iterable[Symbol.asyncIterator]();
  let position = 0;
  // A latch, not one abort promise raced per record: that kept every record reachable.
  const abortion = new StopLatch<typeof abortedMark>();
  const untilAborted = async <T>(work: Promise<T>): Promise<T> => {
    const outcome = await abortion.race(work);
    if (outcome === abortedMark) throw signal.reason ?? new CancelledError();
    return outcome as T;
  };
  const onAbort = () => abortion.stop(abortedMark);
  signal.addEventListener('abort', onAbort, { once: true });
  let buffered = 0;
  let linger: NodeJS.Timeout | undefined;
  let done = false;
  try {
    for (;;) {
      const next = await untilAborted(iterator.next());
      if (next.done) {
        done = true;
        break;
      }
      if (!isHostShare(hosts, position++)) continue;
      output.emit(next.value);
      buffered += 1;
      if (buffered >= settings.batchSize) {
        buffered = 0;
        clearTimeout(linger);
        linger = undefined;
        await untilAborted(output.flush());
      } else if (linger === undefined) {
        linger = setTimeout(() => {
          linger = undefined;
          buffered = 0;
          output.flush().catch(() => {});
        }, settings.lingerMs);
      }
    }
  } finally {
    clearTimeout(linger);
    signal.removeEventListener('abort', onAbort);
    if (!done) await closeIterator(iterator);
  }
}

const abortedMark = Symbol('aborted');

/** Calls `return()` but does not wait forever on an iterator stuck inside its own `await`. */
async function closeIterator(iterator: AsyncIterator<unknown>): Promise<void> {
  if (typeof iterator.return !== 'function') return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      Promise.resolve(iterator.return()).catch(() => {}),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, returnTimeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
