/**
 * Pipeline work is a web of promise chains. When no channel is full, every `await` in them settles
 * at once, and settled awaits continue as microtasks: left alone, a job would run from its first
 * record to its last without the event loop ever taking a turn. Timers, sockets and signals would
 * wait that long — the control plane's heartbeats and status answers, a stop request, Ctrl-C, the
 * terminal board (measured before this existed: the flagship held its thread for 9 s).
 *
 * So every subtask asks here between batches. Once a slice of {@link sliceMs} has passed since the
 * event loop last had a turn, the caller waits for one macrotask turn (`setImmediate`, which runs
 * after pending I/O), and every subtask that asks meanwhile waits for the same turn. The slice is
 * per thread, shared by all jobs on it, because the starvation it prevents is per thread too.
 */

/** How long pipeline work may hold the thread before it lets the event loop take a turn. */
export const sliceMs = 10;

let sliceStarted = performance.now();
let turn: Promise<void> | undefined;

function startTurn(): Promise<void> {
  return new Promise((resolve) => {
    setImmediate(() => {
      turn = undefined;
      sliceStarted = performance.now();
      resolve();
    });
  });
}

/**
 * `undefined` while the current slice lasts (go on without awaiting: the common case costs one
 * clock read); once it is spent, a promise that settles after the event loop took a turn.
 */
export function yieldWhenSliceSpent(): Promise<void> | undefined {
  if (turn !== undefined) return turn;
  if (performance.now() - sliceStarted < sliceMs) return undefined;
  turn = startTurn();
  return turn;
}
