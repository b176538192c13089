/**
 * Which record transport a stream-mode runner uses. DESIGN §3: records reach runner processes
 * through shared memory, so the default is the ring of `@millrace/bridge-shm` when its addon
 * loads, and the pipes otherwise (with a one-line warning saying why).
 * `MILLRACE_RECORDS_TRANSPORT=pipes` in the NodeAgent's environment, or `transport: 'pipes'`,
 * forces the pipes.
 *
 * `@millrace/bridge-shm` is a declared dependency of the runtime (it depends on core and
 * runner-kit only, so there is no cycle); it is imported lazily, so a job that never starts a
 * stream-mode runner does not load the ring's addon.
 */
import { ConfigError, type RecordTransport } from '@millrace/core';
import { pipeTransport } from './pipe-transport.js';

/** `auto` (default): the ring when it loads, else pipes; `pipes`; `shm` (the ring or an error). */
export type RecordTransportChoice = 'auto' | 'pipes' | 'shm' | RecordTransport;

let ringTransport: Promise<RecordTransport> | undefined;

/**
 * The shared-memory ring transport with its default capacity. Rejects (a DependencyMissingError
 * saying how to build it) when the ring's addon does not load here; that answer is not cached.
 */
export function loadRingTransport(): Promise<RecordTransport> {
  ringTransport ??= import('@millrace/bridge-shm')
    .then((bridge) => bridge.createRecordTransport())
    .catch((error: unknown) => {
      ringTransport = undefined;
      throw error;
    });
  return ringTransport;
}

/**
 * The transport for one runner start. `warn` is called (once per call that falls back) with one
 * line when `auto` cannot use the ring.
 */
export async function chooseRecordTransport(
  choice: RecordTransportChoice | undefined,
  environment: NodeJS.ProcessEnv,
  warn: (line: string) => void,
  load: () => Promise<RecordTransport> = loadRingTransport,
): Promise<RecordTransport> {
  if (choice !== undefined && typeof choice === 'object') return choice;
  const requested = choice ?? 'auto';
  if (requested === 'pipes') return pipeTransport;
  if (requested === 'shm') return load();
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
  if (forced === 'shm') return load();
  try {
    return await load();
  } catch (error) {
    const reason = ((error as Error).message ?? String(error)).split('\n')[0];
    warn(`records go over pipes, not the shared-memory ring: ${reason}`);
    return pipeTransport;
  }
}
