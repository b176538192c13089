/**
 * A warm pool of Pyodide worker threads. Loading Pyodide costs seconds, so each worker loads it
 * once and then serves every Python function and batch that comes its way, across operators and
 * jobs. Workers with different sandbox settings (a granted directory) live in different pools.
 * Idle workers are `unref`ed: a warm pool never keeps the process alive on its own.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { MillraceTimeoutError } from '@millrace/core';
import { pyodideHelpers } from './pyodide-helpers.js';
import { pyodideWorkerSource } from './pyodide-worker-source.js';

export interface SandboxSettings {
  pyodideDirectory: string;
  /** Host directory visible to Python at `mountPoint`; none by default. */
  grantedDirectory?: string | undefined;
  mountPoint: string;
}

/** What a worker answers to a `define` or `call`. */
export interface WorkerReply {
  id: number;
  ok?: boolean;
  results?: unknown[];
  defineError?: string;
  missingImports?: { name: string; pyodidePackage: boolean }[];
  loadedPackages?: string[];
  pythonError?: { exception: string; message: string; traceback: string; output: string[] };
  internalError?: string;
}

type Request = { type: 'define' | 'call' } & Record<string, unknown>;

export class PyodideWorker {
  readonly ready: Promise<{ loadMs: number; version: string }>;
  readonly definedFunctions = new Set<number>();
  #worker: Worker;
  #nextId = 1;
  #pending = new Map<number, { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void }>();
  #failure: Error | undefined;

  constructor(settings: SandboxSettings, onGone: (worker: PyodideWorker) => void) {
    this.#worker = new Worker(pyodideWorkerSource, {
      eval: true,
      env: {}, // the sandbox's process.env is empty, whatever Python could reach
      workerData: { ...settings, helpers: pyodideHelpers },
    });
    this.ready = new Promise((resolve, reject) => {
      this.#worker.on('message', (message: { type?: string; id?: number } & Record<string, unknown>) => {
        if (message.type === 'ready') {
          this.#worker.unref();
          resolve({ loadMs: message.loadMs as number, version: message.version as string });
        } else if (message.type === 'load-failed') {
          this.#fail(new Error(`Pyodide failed to load in its worker thread: ${String(message.message)}`));
          reject(this.#failure);
        } else if (message.id !== undefined) {
          const pending = this.#pending.get(message.id);
          this.#pending.delete(message.id);
          if (this.#pending.size === 0) this.#worker.unref();
          pending?.resolve(message as unknown as WorkerReply);
        }
      });
      const gone = (error: Error) => {
        this.#fail(error);
        reject(error);
        onGone(this);
      };
      this.#worker.on('error', (error) =>
        gone(new Error(`the Pyodide worker thread crashed: ${error.message}`)),
      );
      this.#worker.on('exit', (code) => gone(new Error(`the Pyodide worker thread exited (code ${code})`)));
    });
    this.ready.catch(() => {}); // observed by whoever awaits it
  }

  get busy(): boolean {
    return this.#pending.size > 0;
  }

  /** True once the worker crashed, exited or was terminated; it is never used again. */
  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /**
   * Sends a request; `timeoutMs` bounds the wait for the answer. Python code that runs past it is
   * stuck for good (a worker thread cannot be interrupted), so the worker is terminated and the
   * pool starts a fresh one for the next call.
   */
  async request(message: Request, timeoutMs: number): Promise<WorkerReply> {
    await this.ready;
    if (this.#failure) throw this.#failure;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        const error = new MillraceTimeoutError(
          `the Python function (${String(message.type)})`,
          timeoutMs,
          'the Pyodide worker was terminated',
        );
        this.#fail(error);
        reject(error);
        void this.terminate();
      }, timeoutMs);
      this.#pending.set(id, {
        resolve: (reply) => {
          clearTimeout(timer);
          resolve(reply);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#worker.ref(); // a call in flight keeps the process alive until it answers
      this.#worker.postMessage({ ...message, id });
    });
  }

  terminate(): Promise<number> {
    return this.#worker.terminate();
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const pending of this.#pending.values()) pending.reject(error);
    this.#pending.clear();
  }
}

/** Workers for one sandbox configuration; at most `maxWorkers`, handed out one caller at a time. */
export class PyodidePool {
  readonly #settings: SandboxSettings;
  readonly #workers: PyodideWorker[] = [];
  readonly #idle: PyodideWorker[] = [];
  readonly #waiting: ((worker: PyodideWorker) => void)[] = [];
  maxWorkers: number;

  constructor(settings: SandboxSettings, maxWorkers: number) {
    this.#settings = settings;
    this.maxWorkers = maxWorkers;
  }

  get size(): number {
    return this.#workers.length;
  }

  /** Runs `task` with a worker of its own; the worker goes back to the pool afterwards. */
  async use<T>(task: (worker: PyodideWorker) => Promise<T>): Promise<T> {
    const worker = await this.#acquire();
    try {
      return await task(worker);
    } finally {
      this.#release(worker);
    }
  }

  async close(): Promise<void> {
    const workers = this.#workers.splice(0);
    this.#idle.length = 0;
    await Promise.all(workers.map((worker) => worker.terminate()));
  }

  #acquire(): Promise<PyodideWorker> {
    const idle = this.#idle.pop();
    if (idle) return Promise.resolve(idle);
    if (this.#workers.length < this.maxWorkers) {
      const worker = new PyodideWorker(this.#settings, (gone) => this.#forget(gone));
      this.#workers.push(worker);
      return Promise.resolve(worker);
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(worker: PyodideWorker): void {
    if (worker.failed) this.#forget(worker);
    if (!this.#workers.includes(worker)) {
      // A waiter may now start a fresh worker in the freed slot.
      const next = this.#waiting.shift();
      if (next) void this.#acquire().then(next);
      return;
    }
    const next = this.#waiting.shift();
    if (next) next(worker);
    else this.#idle.push(worker);
  }

  #forget(worker: PyodideWorker): void {
    const index = this.#workers.indexOf(worker);
    if (index >= 0) this.#workers.splice(index, 1);
    const idleIndex = this.#idle.indexOf(worker);
    if (idleIndex >= 0) this.#idle.splice(idleIndex, 1);
  }
}

const pools = new Map<string, PyodidePool>();

export function pyodidePool(settings: SandboxSettings, maxWorkers = availableParallelism()): PyodidePool {
  const key = JSON.stringify([
    settings.pyodideDirectory,
    settings.grantedDirectory ?? null,
    settings.mountPoint,
  ]);
  let pool = pools.get(key);
  if (!pool) {
    pool = new PyodidePool(settings, maxWorkers);
    pools.set(key, pool);
  } else if (maxWorkers > pool.maxWorkers) {
    pool.maxWorkers = maxWorkers;
  }
  return pool;
}

/** Terminates every Pyodide worker (tests, or a program that wants its threads back now). */
export async function closePyodideWorkers(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((pool) => pool.close()));
}
