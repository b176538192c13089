// The CPython runner host (also importable alone as `@millrace/bridge-python/cpython`).
export * from './cpython.js';
export { closePyodideWorkers } from './pyodide/pyodide-pool.js';
export {
  type PythonBatchFunction,
  PythonFunctionError,
  type PythonFunctionOptions,
  python,
  pythonFile,
  resolvePyodideDirectory,
} from './pyodide/python-function.js';
export { pythonOperator } from './pyodide/python-operator.js';
