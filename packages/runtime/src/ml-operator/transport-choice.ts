/**
 * Which record transport a stream-mode runner uses. DESIGN §3: records reach runner processes
 * through shared memory, so the default is the ring of `@millrace/bridge-shm` when it is installed
 * and its addon loads, and the pipes otherwise (with a one-line warning saying why).
 * `MILLRACE_RECORDS_TRANSPORT=pipes` in the NodeAgent's environment, or `transport: 'pipes'`,
 * forces the pipes.
 *
 * The runtime never imports a bridge statically (bridges depend on the runtime, not the reverse):
 * a transport named `<name>` is `createRecordTransport()` of the package `@millrace/bridge-<name>`,
 * loaded by name, the same package whose `openRunnerChannels` the runner program loads.
 */
import { ConfigError, DependencyMissingError } from '@millrace/core';
import { pipeTransport, type RecordTransport } from './pipe-transport.js';

/** `auto` (default): the ring when it loads, else pipes; `pipes`; `shm` (the ring or an error). */
export type RecordTransportChoice = 'auto' | 'pipes' | 'shm' | RecordTransport;

const loaded = new Map<string, Promise<RecordTransport>>();

/** Loads `@millrace/bridge-<name>` and makes its transport; a DependencyMissingError says what to do. */
export function loadRecordTransport(name: string): Promise<RecordTransport> {
  let transport = loaded.get(name);
  if (!transport) {
    transport = createFromPackage(name);
    loaded.set(name, transport);
  }
  return transport;
}

async function createFromPackage(name: string): Promise<RecordTransport> {
  const specifier = `@millrace/bridge-${name}`;
  let module: { createRecordTransport?: () => RecordTransport };
  try {
    module = await import(specifier);
  } catch (error) {
    throw new DependencyMissingError(
      specifier,
      `The record transport '${name}' needs ${specifier}, which could not be loaded (${(error as Error).message}). ` +
        `Install it beside @millrace/runtime, or use streamProcessRunner({ transport: 'pipes' })`,
      { cause: error },
    );
  }
  if (typeof module.createRecordTransport !== 'function') {
    throw new ConfigError(
      [{ path: 'transport', message: `${specifier} does not export createRecordTransport()` }],
      { subject: 'streamProcessRunner options' },
    );
  }
  // Throws when the transport cannot work here (the ring's addon not built): say so, don't cache it.
  try {
    return module.createRecordTransport();
  } catch (error) {
    loaded.delete(name);
    throw error;
  }
}

/**
 * The transport for one runner start. `warn` is called (once per call that falls back) with one
 * line when `auto` cannot use the ring.
 */
export async function chooseRecordTransport(
  choice: RecordTransportChoice | undefined,
  environment: NodeJS.ProcessEnv,
  warn: (line: string) => void,
  load: (name: string) => Promise<RecordTransport> = loadRecordTransport,
): Promise<RecordTransport> {
  if (choice !== undefined && typeof choice === 'object') return choice;
  const requested = choice ?? 'auto';
  if (requested === 'pipes') return pipeTransport;
  if (requested === 'shm') return load('shm');
  if (requested !== 'auto') {
    throw new ConfigError(
      [
        {
          path: 'transport',
          message: `must be 'auto', 'pipes', 'shm' or a RecordTransport (got ${JSON.stringify(requested)})`,
        },
      ],
      { subject: 'streamProcessRunner options' },
    );
  }
  const forced = environment.MILLRACE_RECORDS_TRANSPORT;
  if (forced === 'pipes') return pipeTransport;
  if (forced !== undefined && forced !== '' && forced !== 'shm') {
    throw new ConfigError(
      [
        {
          path: 'MILLRACE_RECORDS_TRANSPORT',
          message: `must be 'pipes' or 'shm' (got ${JSON.stringify(forced)})`,
        },
      ],
      { subject: 'NodeAgent environment' },
    );
  }
  if (forced === 'shm') return load('shm');
  try {
    return await load('shm');
  } catch (error) {
    const reason = ((error as Error).message ?? String(error)).split('\n')[0];
    warn(`records go over pipes, not the shared-memory ring: ${reason}`);
    return pipeTransport;
  }
}
