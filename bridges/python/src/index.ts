export { type ControlMessage, type PythonException, parseControlMessage } from './cpython/control-channel.js';
export {
  clearPythonProbeCache,
  defaultPythonCandidates,
  type FindPythonOptions,
  findPython,
  type PythonInterpreter,
  type PythonProbe,
  probePython,
} from './cpython/find-python.js';
export { millracePythonDirectory, shmPythonDirectory } from './cpython/python-package.js';
export {
  type PythonOutput,
  type PythonRunnerHandle,
  type PythonRunnerOptions,
  pythonRunner,
  validatePythonRunnerOptions,
} from './cpython/python-runner.js';
export { type RecordCodecName, recordCodecNames } from './cpython/ring-pumps.js';
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
