/**
 * Chooses the TensorFlow.js backend for this process. The wasm backend's binaries ship inside
 * `@tensorflow/tfjs-backend-wasm`; we point it at the package directory on disk, so nothing is
 * fetched from the network.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';

export type BackendName = 'wasm' | 'cpu';

let wasmPathsSet = false;

/** Directory holding `tfjs-backend-wasm*.wasm` in the installed package. */
export function wasmBinaryDirectory(): string {
  const require = createRequire(import.meta.url);
  return `${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`;
}

/**
 * Activates `preferred` (wasm by default), falling back to cpu when wasm cannot start. Resolves
 * with the backend actually in use. The backend is global to the process (TF.js has one engine),
 * so calls are serialised: concurrent subtasks opening at once must not race the wasm start-up.
 * `PROD` mode skips debug checks and the tfjs-node advert.
 */
export function useBackend(preferred: BackendName = 'wasm'): Promise<BackendName> {
  const next = switching.then(() => activate(preferred));
  switching = next.catch(() => undefined);
  return next;
}

let switching: Promise<unknown> = Promise.resolve();

async function activate(preferred: BackendName): Promise<BackendName> {
  tf.env().set('PROD', true);
  if (tf.getBackend() === preferred) return preferred;
  if (preferred === 'wasm') {
    if (!wasmPathsSet) {
      setWasmPaths(wasmBinaryDirectory());
      wasmPathsSet = true;
    }
    if (await tf.setBackend('wasm').catch(() => false)) {
      await tf.ready();
      return 'wasm';
    }
  }
  await tf.setBackend('cpu');
  await tf.ready();
  return 'cpu';
}
