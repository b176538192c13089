/**
 * The runner program's side of a stream-mode role (Node runners; Python runners use the
 * `millrace` Python package). It reads how the NodeAgent set up the record transport from the
 * environment, so the same program works whichever transport the job chose.
 *
 * ```js
 * import { openRunnerChannels } from '@millrace/runtime';
 * const { input, output } = await openRunnerChannels();
 * for await (const record of input) await output.write(transform(record));
 * await output.end();
 * ```
 *
 * For `MILLRACE_RECORDS_TRANSPORT=shm` this imports `@millrace/bridge-shm` (a declared dependency,
 * loaded lazily) and calls its `openRunnerChannels(environment)`, so runner programs do not change
 * when a job switches to the shared-memory ring.
 */
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { CodecError, ConfigError } from '@millrace/core';
import { encodeFrames, FrameDecoder } from '@millrace/runner-kit';
import { checkpointedLine } from './checkpoint-line.js';

export interface RunnerInput extends AsyncIterable<Uint8Array> {}

export interface RunnerOutput {
  write(record: Uint8Array): Promise<void>;
  writeBatch(records: readonly Uint8Array[]): Promise<void>;
  /** Flushes and closes; the pipeline sees this runner's records before the node finishes. */
  end(): Promise<void>;
  /** Resolves once every record written so far has left this process (into the pipe or ring). */
  flush?(): Promise<void>;
}

export interface RunnerChannels {
  /** Present for stream-mode roles (a role with an input stream). */
  input?: RunnerInput;
  output?: RunnerOutput;
  /**
   * The input position this process resumes after (`MILLRACE_RESUME_POSITION`): its first input
   * record is number `resumePosition + 1` of this node's stream. Compare it with the position
   * stored in the checkpoint you restore, and skip the difference if the checkpoint is newer.
   */
  readonly resumePosition: number;
  /** `resumePosition` plus the input records this process has taken from `input` so far. */
  readonly position: number;
  /**
   * Acknowledges a checkpoint covering input positions 1 … `position`; call it once the checkpoint
   * (holding that position) is durably written. It first flushes `output`, so what the runner
   * wrote before the checkpoint is never lost with it (downstream records are at-least-once).
   * With replay on, a restarted runner then receives exactly the records after `position`.
   */
  checkpointed(position: number): Promise<void>;
}

export interface OpenRunnerChannelsOptions {
  /**
   * The codec this program decodes and encodes records with, e.g. `msgpack`. The role's codec
   * travels in `MILLRACE_RECORDS_CODEC`; when the two differ the program fails here, naming both,
   * instead of misreading every record.
   */
  codec?: string | undefined;
}

export async function openRunnerChannels(
  environment: NodeJS.ProcessEnv = process.env,
  options: OpenRunnerChannelsOptions = {},
): Promise<RunnerChannels> {
  const roleCodec = environment.MILLRACE_RECORDS_CODEC;
  if (options.codec !== undefined && roleCodec !== undefined && options.codec !== roleCodec) {
    throw new CodecError(
      roleCodec,
      `this runner program speaks '${options.codec}' but its role (${environment.MILLRACE_ROLE ?? 'unknown'}) ` +
        `encodes its records with '${roleCodec}'; give addRole the ${options.codec} codec or open the channels with codec: '${roleCodec}'`,
    );
  }
  const transport = environment.MILLRACE_RECORDS_TRANSPORT;
  if (transport === undefined) {
    throw new ConfigError(
      [
        {
          path: 'MILLRACE_RECORDS_TRANSPORT',
          message: 'is not set: this program must be started by a stream-mode role (streamProcessRunner)',
        },
      ],
      { subject: 'runner environment' },
    );
  }
  const channels =
    transport === 'pipes'
      ? openPipeChannels(environment)
      : await openTransportPackage(transport, environment, options.codec);
  return withPositions(channels, environment);
}

/** Numbers the input as it is consumed and adds the checkpoint acknowledgement. */
function withPositions(
  channels: Pick<RunnerChannels, 'input' | 'output'>,
  environment: NodeJS.ProcessEnv,
): RunnerChannels {
  const text = environment.MILLRACE_RESUME_POSITION ?? '0';
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(
      [{ path: 'MILLRACE_RESUME_POSITION', message: `must be a non-negative integer (got '${text}')` }],
      { subject: 'runner environment' },
    );
  }
  const resumePosition = Number(text);
  let position = resumePosition;
  const source = channels.input;
  const input: RunnerInput | undefined = source && {
    async *[Symbol.asyncIterator]() {
      for await (const record of source) {
        position += 1;
        yield record;
      }
    },
  };
  return {
    ...(input ? { input } : {}),
    ...(channels.output ? { output: channels.output } : {}),
    resumePosition,
    get position() {
      return position;
    },
    async checkpointed(acknowledged: number) {
      if (!Number.isSafeInteger(acknowledged) || acknowledged < 0) {
        throw new ConfigError(
          [{ path: 'position', message: `must be a non-negative integer (got ${String(acknowledged)})` }],
          { subject: 'checkpointed(position)' },
        );
      }
      await channels.output?.flush?.();
      // stdout is synchronous for pipes on POSIX: the line is in the pipe before this returns.
      process.stdout.write(`${checkpointedLine(acknowledged)}\n`);
    },
  };
}

function openPipeChannels(environment: NodeJS.ProcessEnv): Pick<RunnerChannels, 'input' | 'output'> {
  const channels: Pick<RunnerChannels, 'input' | 'output'> = {};
  if (environment.MILLRACE_RECORDS_IN_FD !== undefined) {
    const fd = Number(environment.MILLRACE_RECORDS_IN_FD);
    channels.input = {
      async *[Symbol.asyncIterator]() {
        const decoder = new FrameDecoder();
        for await (const chunk of createReadStream('', {
          fd,
          highWaterMark: 256 * 1024,
        }) as AsyncIterable<Buffer>) {
          yield* decoder.push(chunk);
        }
        if (decoder.pendingBytes > 0) throw new Error('the record stream ended inside a record');
      },
    };
  }
  if (environment.MILLRACE_RECORDS_OUT_FD !== undefined) {
    const stream = createWriteStream('', { fd: Number(environment.MILLRACE_RECORDS_OUT_FD) });
    const writeBatch = async (records: readonly Uint8Array[]) => {
      if (!stream.write(encodeFrames(records))) await once(stream, 'drain');
    };
    channels.output = {
      write: (record) => writeBatch([record]),
      writeBatch,
      flush: () =>
        new Promise<void>((resolve, reject) =>
          stream.write(new Uint8Array(0), (error) => (error ? reject(error) : resolve())),
        ),
      async end() {
        stream.end();
        await once(stream, 'finish');
      },
    };
  }
  return channels;
}

async function openTransportPackage(
  transport: string,
  environment: NodeJS.ProcessEnv,
  codec: string | undefined,
): Promise<Pick<RunnerChannels, 'input' | 'output'>> {
  if (transport !== 'shm') {
    throw new ConfigError(
      [
        {
          path: 'MILLRACE_RECORDS_TRANSPORT',
          message: `must be 'pipes' or 'shm' (got ${JSON.stringify(transport)})`,
        },
      ],
      { subject: 'runner environment' },
    );
  }
  const bridge = await import('@millrace/bridge-shm');
  // The ring headers carry the role's codec: a program speaking another fails at open, naming both.
  return bridge.openRunnerChannels(environment, { codec });
}
