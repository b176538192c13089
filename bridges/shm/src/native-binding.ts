/**
 * Loads the ring addon (`build/Release/millrace_ring.node`, built when the package is installed
 * and by its `build` script: scripts/build-native.mjs). Follows the native-loader convention: anything other than "not built" is rethrown as
 * is, and the final error says how to build. There is no JavaScript fallback for the ring (it
 * would not be shared memory), so there is no switch to turn the addon off.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DependencyMissingError } from '@millrace/core';

/** The raw binding; `ring-writer.ts` and `ring-reader.ts` wrap it. Internal. */
export interface NativeRingHandle {
  info(): { capacity: number; maxPayload: number; codec: string; creatorPid: number };
  stats(): {
    writePosition: number;
    readPosition: number;
    writerState: number;
    readerState: number;
    writerPid: number;
    readerPid: number;
  };
  tryWriteBatch(records: readonly Uint8Array[], start: number): number;
  tryWritePacked(data: Uint8Array, offsets: Uint32Array, start: number): number;
  tryWriteEnd(): boolean;
  waitWritable(timeoutMs: number): Promise<void>;
  tryReadBatch(maxRecords: number, maxBytes: number): [ArrayBuffer, Uint32Array] | null | undefined;
  waitReadable(timeoutMs: number): Promise<void>;
  close(): void;
}

export interface NativeRingBinding {
  createRingFile(path: string, capacityBytes: number, codec: string, creatorPid: number): void;
  RingHandle: new (path: string, role: 'writer' | 'reader', attachTimeoutMs: number) => NativeRingHandle;
  formatVersion: number;
  headerSize: number;
}

/** The package root: both `src/native-binding.ts` and the bundled `dist/index.js` sit one level below. */
export const packageRoot = fileURLToPath(new URL('..', import.meta.url));

let binding: NativeRingBinding | undefined;

export function loadNativeRing(): NativeRingBinding {
  binding ??= loadNativeRingFrom(packageRoot);
  return binding;
}

/** Loads the addon built under `directory` (exported for the loader's own test). */
export function loadNativeRingFrom(directory: string): NativeRingBinding {
  const require = createRequire(import.meta.url);
  const nodeGypBuild = require('node-gyp-build') as (directory: string) => unknown;
  try {
    return nodeGypBuild(directory) as NativeRingBinding;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (!/No native build was found/i.test(message)) throw error;
    throw new DependencyMissingError(
      'millrace_ring.node',
      `The shared-memory ring addon is not built (looked in ${join(directory, 'build', 'Release')}).\n` +
        `  Build it with: npm rebuild @millrace/bridge-shm   (it is built at install; this redoes it)\n` +
        `  (needs g++, make and python3; Node's headers come from npm_config_nodedir or the node installation, never a download)`,
      { cause: error },
    );
  }
}
