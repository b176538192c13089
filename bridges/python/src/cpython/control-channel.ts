/**
 * The agent's end of the control channel: a socket on the child's fd 3 carrying one JSON object a
 * line (the Python end is `millrace/_control.py`). The child sends `ready`, `heartbeat`,
 * `metrics`, `checkpointed` (a checkpoint covering input positions up to `position` is written)
 * and `error`; the agent sends `stop`.
 */
import { createInterface } from 'node:readline';
import type { Duplex } from 'node:stream';

/** The file descriptor the control socket occupies in the child (`MILLRACE_CONTROL_FD`). */
export const controlFileDescriptor = 3;

export interface PythonException {
  /** The exception class, e.g. `ValueError`. */
  exception: string;
  message: string;
  /** The formatted Python traceback. */
  traceback: string;
}

export type ControlMessage =
  | { type: 'ready' }
  | { type: 'heartbeat' }
  | { type: 'metrics'; values: Record<string, number> }
  | { type: 'checkpointed'; position: number }
  | ({ type: 'error' } & PythonException);

export interface ControlHandlers {
  onReady(): void;
  onHeartbeat(): void;
  onMetrics(values: Record<string, number>): void;
  onCheckpointed(position: number): void;
  onError(error: PythonException): void;
}

export interface ControlChannel {
  /** Asks the runner to stop: sets `ctx.stopping` on the Python side. */
  requestStop(reason: string): void;
  close(): void;
}

export function openControlChannel(socket: Duplex, handlers: ControlHandlers): ControlChannel {
  socket.on('error', () => {}); // the child's exit is the authoritative signal, not a socket error
  const lines = createInterface({ input: socket, crlfDelay: Number.POSITIVE_INFINITY });
  lines.on('error', () => {}); // readline re-emits the socket's errors (ECONNRESET when the child dies)
  lines.on('line', (line) => {
    const message = parseControlMessage(line);
    if (!message) return;
    switch (message.type) {
      case 'ready':
        handlers.onReady();
        break;
      case 'heartbeat':
        handlers.onHeartbeat();
        break;
      case 'metrics':
        handlers.onMetrics(message.values);
        break;
      case 'checkpointed':
        handlers.onCheckpointed(message.position);
        break;
      case 'error':
        handlers.onError({
          exception: message.exception,
          message: message.message,
          traceback: message.traceback,
        });
        break;
    }
  });
  return {
    requestStop(reason) {
      if (!socket.destroyed && socket.writable) socket.write(`${JSON.stringify({ type: 'stop', reason })}\n`);
    },
    close() {
      lines.close();
      socket.destroy();
    },
  };
}

/** A control line as a message, or undefined for anything malformed (ignored, never fatal). */
export function parseControlMessage(line: string): ControlMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const message = value as Record<string, unknown>;
  switch (message.type) {
    case 'ready':
    case 'heartbeat':
      return { type: message.type };
    case 'metrics': {
      const values: Record<string, number> = {};
      if (typeof message.values !== 'object' || message.values === null) return undefined;
      for (const [name, number] of Object.entries(message.values)) {
        if (typeof number === 'number' && Number.isFinite(number)) values[name] = number;
      }
      return { type: 'metrics', values };
    }
    case 'checkpointed':
      return Number.isSafeInteger(message.position) && (message.position as number) >= 0
        ? { type: 'checkpointed', position: message.position as number }
        : undefined;
    case 'error':
      return {
        type: 'error',
        exception: String(message.exception ?? 'Exception'),
        message: String(message.message ?? ''),
        traceback: String(message.traceback ?? ''),
      };
    default:
      return undefined;
  }
}
