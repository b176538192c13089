import { ConfigError, type ConfigIssue } from '@millrace/core';
import { toRingError } from './errors.js';
import { loadNativeRing, type NativeRingHandle } from './native-binding.js';

/** Options for `RingWriter.open` and `RingReader.open`. */
export interface RingOpenOptions {
  /** The codec this side speaks; checked against the name in the ring header (RING.md §9). */
  codec?: string | { readonly name: string } | undefined;
  /** How long a wait may last while the other side has not attached yet (default 60 000 ms). */
  attachTimeoutMs?: number;
  /** Bound on any single wait for space or data (default: none; peer death is always detected). */
  timeoutMs?: number;
}

export interface OpenedRing {
  native: NativeRingHandle;
  capacityBytes: number;
  maxRecordBytes: number;
  codec: string;
  timeoutMs: number;
  attachTimeoutMs: number;
}

function checkDuration(issues: ConfigIssue[], name: string, value: number | undefined): void {
  if (value !== undefined && !(Number.isFinite(value) && value >= 0)) {
    issues.push({
      path: name,
      message: `must be a non-negative number of milliseconds (got ${String(value)})`,
    });
  }
}

/** Validates options, maps the file and attaches one end; shared by the writer and the reader. */
export function openRing(path: string, role: 'writer' | 'reader', options: RingOpenOptions): OpenedRing {
  const issues: ConfigIssue[] = [];
  if (typeof path !== 'string' || path.length === 0)
    issues.push({ path: 'path', message: 'must be a ring file path' });
  checkDuration(issues, 'attachTimeoutMs', options.attachTimeoutMs);
  checkDuration(issues, 'timeoutMs', options.timeoutMs);
  if (issues.length)
    throw new ConfigError(issues, { subject: `Ring${role === 'writer' ? 'Writer' : 'Reader'}.open` });
  const binding = loadNativeRing();
  const attachTimeoutMs = Math.round(options.attachTimeoutMs ?? 60_000);
  let native: NativeRingHandle;
  try {
    native = new binding.RingHandle(path, role, attachTimeoutMs);
  } catch (error) {
    throw toRingError(error, { path, operation: 'open' });
  }
  const info = native.info();
  const expected = typeof options.codec === 'string' ? options.codec : options.codec?.name;
  if (expected !== undefined && expected !== info.codec) {
    native.close();
    throw new ConfigError(
      [
        {
          path: 'codec',
          message: `this ${role} speaks "${expected}" but ring ${path} was created for "${info.codec}"`,
        },
      ],
      { subject: `Ring${role === 'writer' ? 'Writer' : 'Reader'}.open` },
    );
  }
  return {
    native,
    capacityBytes: info.capacity,
    maxRecordBytes: info.maxPayload,
    codec: info.codec,
    timeoutMs: options.timeoutMs === undefined ? -1 : Math.round(options.timeoutMs),
    attachTimeoutMs,
  };
}

/** Runs operations one after another (a ring end supports one operation at a time). */
export class OperationQueue {
  #last: Promise<unknown> = Promise.resolve();

  run<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.#last.then(operation);
    this.#last = result.catch(() => undefined);
    return result;
  }
}
