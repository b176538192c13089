/**
 * A user function named by where it lives rather than by value, so that it can be loaded in a
 * worker thread (closures cannot cross threads). The module must be importable by Node on its
 * own (a `.js`/`.mjs` file or a package export) and the function self-contained: everything it
 * uses is imported by that module, nothing is captured from the job's code.
 *
 * ```ts
 * // parse.mjs
 * export function parseClick(line) { return JSON.parse(line); }
 * // job
 * stream.map(functionReference(new URL('./parse.mjs', import.meta.url), 'parseClick'), { thread: 'worker', parallelism: 2 })
 * ```
 */
import { ConfigError } from '@millrace/core';

const brand = Symbol.for('millrace.function-reference');

// biome-ignore lint/suspicious/noExplicitAny: an unannotated reference fits any operator.
type AnyFunction = (...args: any[]) => any;

export interface FunctionReference<F extends AnyFunction = AnyFunction> {
  readonly [brand]: true;
  /** A `file:` URL or any specifier `import()` accepts from the dataflow package. */
  readonly module: string;
  readonly exportName: string;
  /** Phantom field carrying the function's type; never set. */
  readonly type?: F;
}

export function functionReference<F extends AnyFunction = AnyFunction>(
  module: string | URL,
  exportName: string,
): FunctionReference<F> {
  const specifier = module instanceof URL ? module.href : module;
  if (!specifier)
    throw new ConfigError([{ path: 'module', message: 'must name a module' }], {
      subject: 'function reference',
    });
  if (!exportName) {
    throw new ConfigError([{ path: 'exportName', message: 'must name an export' }], {
      subject: 'function reference',
    });
  }
  const absolute = specifier.startsWith('/') ? new URL(`file://${specifier}`).href : specifier;
  return { [brand]: true, module: absolute, exportName };
}

export function isFunctionReference(value: unknown): value is FunctionReference {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** Imports the referenced module and returns the function, with an error naming what is missing. */
export async function loadFunction<F>(reference: FunctionReference): Promise<F> {
  let namespace: Record<string, unknown>;
  try {
    namespace = (await import(reference.module)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(
      [{ path: 'module', message: `cannot import '${reference.module}': ${(error as Error).message}` }],
      { subject: 'function reference', cause: error },
    );
  }
  const value = namespace[reference.exportName];
  if (typeof value !== 'function') {
    throw new ConfigError(
      [
        {
          path: 'exportName',
          message: `'${reference.module}' has no function export '${reference.exportName}' (exports: ${Object.keys(namespace).join(', ') || 'none'})`,
        },
      ],
      { subject: 'function reference' },
    );
  }
  return value as F;
}
