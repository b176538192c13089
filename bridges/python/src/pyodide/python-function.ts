/**
 * `python(source)`: a pure-Python function run in Pyodide (CPython compiled to WebAssembly) on a
 * worker thread, usable wherever a dataflow operator takes a batch function:
 *
 *   stream.mapBatches(python('def double(row):\n    return row * 2'))
 *   stream.mapBatches(pythonFile('udf/clean.py', { function: 'clean' }))
 *
 * Records cross to the worker a batch at a time and come back as plain JavaScript values (dicts
 * become objects, tuples arrays). Pyodide loads once per worker and the workers stay warm.
 *
 * Offline only: Pyodide's own packages (numpy, pandas …) are not shipped in the npm package and
 * there is no network, so only the Python standard library is available. Code that imports
 * anything else fails before its first record with an error that says so.
 *
 * The sandbox: Python sees no JavaScript globals, no `pyodide_js`, an empty environment and an
 * in-memory file system; `grantDirectory` mounts one host directory. It keeps honest code from
 * touching the host by accident; it is not a security boundary against hostile code (that needs a
 * separate process or a VM).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigIssue, DependencyMissingError, MillraceError } from '@millrace/core';
import { type PyodideWorker, pyodidePool, type WorkerReply } from './pyodide-pool.js';

export interface PythonFunctionOptions {
  /** The function to call. Default: the only top-level function the source defines. */
  function?: string | undefined;
  /** `row` (default): `f(row)` for each record. `batch`: `f(rows)` once per batch, returning a list. */
  mode?: 'row' | 'batch' | undefined;
  /** A host directory the Python code may read and write, mounted at `mountPoint`. Default: none. */
  grantDirectory?: string | undefined;
  /** Where `grantDirectory` appears inside the sandbox. Default `/data`. */
  mountPoint?: string | undefined;
  /** Most worker threads the pool for these settings starts. Default: the number of CPUs. */
  maxWorkers?: number | undefined;
  /**
   * Longest a single batch (or the definition) may run. Past it the worker is terminated (Python
   * cannot be interrupted inside a thread) and the call fails with a timeout. Default 60 s.
   */
  timeoutMs?: number | undefined;
  /** Shown in tracebacks. Default `<python udf>`, or the file's path. */
  filename?: string | undefined;
}

/** A batch function (for `mapBatches`) backed by Pyodide, plus lifecycle helpers. */
export interface PythonBatchFunction<I = unknown, O = unknown> {
  (rows: readonly I[]): Promise<O[]>;
  /** Loads Pyodide and defines the function now, so a bad import fails before the job runs. */
  warmUp(): Promise<void>;
  readonly description: string;
}

/** A Python exception raised by a Pyodide function; `traceback` is Python's own. */
export class PythonFunctionError extends MillraceError {
  readonly exception: string;
  readonly traceback: string;

  constructor(description: string, exception: string, message: string, traceback: string) {
    super(
      'USER_CODE_FAILED',
      `Python function ${description} raised ${exception}: ${message}\n${traceback.trimEnd()}`,
    );
    this.name = 'PythonFunctionError';
    this.exception = exception;
    this.traceback = traceback;
  }
}

let nextFunctionId = 1;
let pyodideDirectory: string | undefined;

/** The installed `pyodide` package's directory; a clear error when it is not installed. */
export function resolvePyodideDirectory(): string {
  if (pyodideDirectory) return pyodideDirectory;
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve('pyodide/package.json');
  } catch (error) {
    throw new DependencyMissingError(
      'pyodide',
      'Python functions need the optional peer dependency pyodide: npm install pyodide@^0.29 ' +
        '(it ships the interpreter and the standard library, so it runs offline)',
      { cause: error },
    );
  }
  pyodideDirectory = dirname(manifest);
  return pyodideDirectory;
}

function validate(source: unknown, options: PythonFunctionOptions): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  if (typeof source !== 'string' || source.trim() === '') {
    issues.push({ path: 'source', message: 'must be Python source code defining a function' });
  }
  if (options.function !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(options.function)) {
    issues.push({ path: 'function', message: `'${options.function}' is not a Python identifier` });
  }
  if (options.mode !== undefined && options.mode !== 'row' && options.mode !== 'batch') {
    issues.push({ path: 'mode', message: "must be 'row' or 'batch'" });
  }
  if (options.grantDirectory !== undefined) {
    const directory = resolve(options.grantDirectory);
    if (!existsSync(directory) || !statSync(directory).isDirectory()) {
      issues.push({ path: 'grantDirectory', message: `${directory} is not an existing directory` });
    }
  }
  if (options.mountPoint !== undefined && !options.mountPoint.startsWith('/')) {
    issues.push({ path: 'mountPoint', message: 'must be an absolute path inside the sandbox, e.g. /data' });
  }
  for (const field of ['maxWorkers', 'timeoutMs'] as const) {
    const value = options[field];
    if (value !== undefined && !(Number.isInteger(value) && value > 0)) {
      issues.push({ path: field, message: 'must be a positive integer' });
    }
  }
  return issues;
}

/** A Python function, from source, as a batch function for `mapBatches`. */
export function python<I = unknown, O = unknown>(
  source: string,
  options: PythonFunctionOptions = {},
): PythonBatchFunction<I, O> {
  const issues = validate(source, options);
  if (issues.length) throw new ConfigError(issues, { subject: 'python() options' });
  const functionId = nextFunctionId++;
  const filename = options.filename ?? '<python udf>';
  const description = options.function ? `${options.function} (${filename})` : filename;
  const wholeBatch = options.mode === 'batch';
  const timeoutMs = options.timeoutMs ?? 60_000;
  let pool: ReturnType<typeof pyodidePool> | undefined;
  const getPool = () => {
    pool ??= pyodidePool(
      {
        pyodideDirectory: resolvePyodideDirectory(),
        grantedDirectory: options.grantDirectory === undefined ? undefined : resolve(options.grantDirectory),
        mountPoint: options.mountPoint ?? '/data',
      },
      options.maxWorkers,
    );
    return pool;
  };

  const ensureDefined = async (worker: PyodideWorker) => {
    if (worker.definedFunctions.has(functionId)) return;
    const reply = await worker.request(
      {
        type: 'define',
        functionId,
        source,
        functionName: options.function,
        filename,
      },
      timeoutMs,
    );
    throwForReply(reply, description);
    worker.definedFunctions.add(functionId);
  };

  const call = async (rows: readonly I[]): Promise<O[]> =>
    getPool().use(async (worker) => {
      await ensureDefined(worker);
      const reply = await worker.request({ type: 'call', functionId, rows, wholeBatch }, timeoutMs);
      throwForReply(reply, description);
      return reply.results as O[];
    });

  return Object.assign(call, {
    warmUp: () => getPool().use(ensureDefined),
    description: `python ${description}`,
  });
}

/** A Python function read from a file (once, now) as a batch function for `mapBatches`. */
export function pythonFile<I = unknown, O = unknown>(
  path: string,
  options: PythonFunctionOptions = {},
): PythonBatchFunction<I, O> {
  const absolute = resolve(path);
  let source: string;
  try {
    source = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError(
      [{ path: 'path', message: `cannot read ${absolute}: ${(error as Error).message}` }],
      {
        subject: 'pythonFile()',
      },
    );
  }
  return python(source, { filename: absolute, ...options });
}

function throwForReply(reply: WorkerReply, description: string): void {
  if (reply.missingImports?.length) throw missingImportError(reply, description);
  if (reply.defineError !== undefined) {
    throw new ConfigError([{ path: 'source', message: reply.defineError.trimEnd() }], {
      subject: `Python function ${description}`,
    });
  }
  if (reply.pythonError) {
    const { exception, message, traceback } = reply.pythonError;
    throw new PythonFunctionError(description, exception, message, traceback);
  }
  if (reply.internalError !== undefined) {
    throw new Error(`the Pyodide worker failed running ${description}: ${reply.internalError}`);
  }
}

function missingImportError(reply: WorkerReply, description: string): DependencyMissingError {
  const missing = reply.missingImports!;
  const names = missing.map((module) => module.name).join(', ');
  const pyodidePackages = missing.filter((module) => module.pyodidePackage).map((module) => module.name);
  const loaded = reply.loadedPackages?.length ? reply.loadedPackages.join(', ') : 'none';
  const lines = [
    `Python function ${description} imports ${names}, which Pyodide cannot load here.`,
    'Pyodide runs offline in Millrace: only the Python standard library is available ' +
      `(packages loaded into Pyodide: ${loaded}).`,
  ];
  if (pyodidePackages.length) {
    lines.push(
      `${pyodidePackages.join(', ')} ${pyodidePackages.length === 1 ? 'is a Pyodide package' : 'are Pyodide packages'}, ` +
        'but their wheels are not part of the pyodide npm package and would have to be downloaded.',
    );
  }
  lines.push(
    'Run code that needs these modules in a CPython runner (pythonRunner), or use the standard library.',
  );
  return new DependencyMissingError(missing[0]!.name, lines.join('\n'));
}
