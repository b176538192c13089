/**
 * The JavaScript of a Pyodide worker thread, started from inline source (`eval: true`) so it runs
 * the same from `src/` under vitest and from the bundled `dist/`. It loads Pyodide once, closes
 * the sandbox (no JavaScript globals visible to Python, no `pyodide_js`, an empty environment, the
 * in-memory file system only, plus a host directory when one is granted), then serves `define`
 * and `call` messages until terminated.
 */
export const pyodideWorkerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { pathToFileURL } = require('node:url');

const started = performance.now();
const output = [];
const keep = (line) => { output.push(line); if (output.length > 50) output.shift(); };

(async () => {
  const { loadPyodide } = await import(pathToFileURL(join(workerData.pyodideDirectory, 'pyodide.mjs')).href);
  const pyodide = await loadPyodide({
    indexURL: workerData.pyodideDirectory + '/',
    jsglobals: Object.create(null),
    env: { HOME: '/home/pyodide' },
    stdout: keep,
    stderr: keep,
  });
  if (workerData.grantedDirectory) {
    pyodide.FS.mkdirTree(workerData.mountPoint);
    pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: workerData.grantedDirectory }, workerData.mountPoint);
  }
  pyodide.runPython(workerData.helpers);
  pyodide.unregisterJsModule('pyodide_js');
  pyodide.runPython('_millrace_close_sandbox()');
  // Every JavaScript value Python can reach leads to the Function constructor through
  // '.constructor.constructor', and from there to this thread's globals (process, require). Cut
  // that path once Pyodide is loaded: none of the engine's later work compiles code from strings.
  for (const sample of [function () {}, async function () {}, function* () {}, async function* () {}]) {
    Object.defineProperty(Object.getPrototypeOf(sample), 'constructor', { value: undefined, writable: false, configurable: false });
  }
  const lockPackages = new Set(
    Object.keys(JSON.parse(readFileSync(join(workerData.pyodideDirectory, 'pyodide-lock.json'), 'utf8')).packages ?? {}),
  );
  const define = pyodide.globals.get('_millrace_define');
  const call = pyodide.globals.get('_millrace_call');
  const convert = (proxy) => {
    const value = proxy.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    proxy.destroy();
    return value;
  };
  const packagesReport = () => ({
    loadedPackages: Object.keys(pyodide.loadedPackages),
    lockPackages: [...lockPackages],
  });

  parentPort.postMessage({ type: 'ready', loadMs: performance.now() - started, version: pyodide.version });
  parentPort.on('message', (message) => {
    try {
      if (message.type === 'define') {
        const problem = define(message.functionId, message.source, message.functionName ?? undefined, message.filename);
        if (problem === undefined || problem === null) return parentPort.postMessage({ id: message.id, ok: true });
        const [kind, detail] = convert(problem);
        if (kind === 'imports') {
          const missing = detail.split(',');
          return parentPort.postMessage({
            id: message.id,
            missingImports: missing.map((name) => ({ name, pyodidePackage: lockPackages.has(name.toLowerCase()) })),
            ...packagesReport(),
          });
        }
        return parentPort.postMessage({ id: message.id, defineError: detail });
      }
      if (message.type === 'call') {
        output.length = 0;
        const reply = convert(call(message.functionId, message.rows, message.wholeBatch));
        if (reply[0] === 'ok') return parentPort.postMessage({ id: message.id, results: reply[1] });
        const missing = reply[4];
        return parentPort.postMessage({
          id: message.id,
          pythonError: { exception: reply[1], message: reply[2], traceback: reply[3], output: output.slice() },
          missingImports: missing ? [{ name: missing, pyodidePackage: lockPackages.has(missing.toLowerCase()) }] : undefined,
          ...(missing ? packagesReport() : {}),
        });
      }
    } catch (error) {
      parentPort.postMessage({ id: message.id, internalError: String(error && error.stack ? error.stack : error) });
    }
  });
})().catch((error) => {
  parentPort.postMessage({ type: 'load-failed', message: String(error && error.stack ? error.stack : error) });
});
`;
