/**
 * `@millrace/bridge-python/cpython`: the CPython runner host alone, without the Pyodide UDFs and
 * therefore without `@millrace/dataflow`. Engines (plugin-pytorch) import this subpath so that
 * loading an engine loads no dataflow runtime.
 */
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
