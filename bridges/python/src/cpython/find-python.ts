/**
 * Interpreter discovery. Order: the runner's explicit `python` option, then `MILLRACE_PYTHON`,
 * then well-known candidates (Debian's `/usr/bin/python3` first, because that is where Debian's
 * `python3-torch` is visible). A candidate fits when it starts and can find every required module.
 * Probes are cached per (interpreter, modules), so a cluster of N nodes probes once.
 */
import { execFile } from 'node:child_process';
import { DependencyMissingError } from '@millrace/core';

export interface FindPythonOptions {
  /** An interpreter chosen by the user (path or command name); when set, no other is tried. */
  python?: string | undefined;
  /** Modules the runner needs, e.g. `['torch']`; each is checked with `importlib.util.find_spec`. */
  requiredModules?: readonly string[] | undefined;
  /** Environment to read `MILLRACE_PYTHON` and `PATH` from (default: `process.env`). */
  environment?: Readonly<Record<string, string | undefined>> | undefined;
  /** Candidates tried when neither `python` nor `MILLRACE_PYTHON` is set. */
  candidates?: readonly string[] | undefined;
}

export interface PythonInterpreter {
  /** The command as given (what the runner spawns). */
  command: string;
  /** `sys.executable` as the interpreter reports it. */
  executable: string;
  /** e.g. `3.11.2`. */
  version: string;
}

/** What a probe found about one candidate. */
export interface PythonProbe {
  command: string;
  /** Why it cannot be used, or undefined when it fits. */
  problem?: string | undefined;
  missingModules: readonly string[];
  interpreter?: PythonInterpreter | undefined;
}

export const defaultPythonCandidates: readonly string[] = ['/usr/bin/python3', 'python3', 'python'];

const probeTimeoutMs = 15_000;

// Prints one JSON line: the executable, its version, and which of argv[1:] cannot be found.
const probeScript = [
  'import importlib.util, json, sys',
  'missing = []',
  'for name in sys.argv[1:]:',
  '    try:',
  '        found = importlib.util.find_spec(name) is not None',
  '    except (ImportError, ValueError):',
  '        found = False',
  '    if not found: missing.append(name)',
  'print(json.dumps({"executable": sys.executable, "version": "%d.%d.%d" % sys.version_info[:3], "missing": missing}))',
].join('\n');

const probeCache = new Map<string, Promise<PythonProbe>>();

/** Probes one interpreter (cached). Never rejects: problems are data. */
export function probePython(
  command: string,
  requiredModules: readonly string[] = [],
  environment: Readonly<Record<string, string | undefined>> = process.env,
): Promise<PythonProbe> {
  const key = JSON.stringify([
    command,
    [...requiredModules].sort(),
    environment.PATH ?? '',
    environment.PYTHONPATH ?? '',
  ]);
  let probe = probeCache.get(key);
  if (!probe) {
    probe = runProbe(command, requiredModules, environment);
    probeCache.set(key, probe);
  }
  return probe;
}

/** Forgets cached probes (after installing a package, say). */
export function clearPythonProbeCache(): void {
  probeCache.clear();
}

function runProbe(
  command: string,
  requiredModules: readonly string[],
  environment: Readonly<Record<string, string | undefined>>,
): Promise<PythonProbe> {
  return new Promise((resolve) => {
    execFile(
      command,
      ['-c', probeScript, ...requiredModules],
      { timeout: probeTimeoutMs, env: { ...environment }, encoding: 'utf8' },
      (error, stdout) => {
        if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
          resolve({ command, problem: 'not found', missingModules: [] });
          return;
        }
        try {
          const reported = JSON.parse(stdout.trim().split('\n').pop() ?? '') as {
            executable: string;
            version: string;
            missing: string[];
          };
          const interpreter = { command, executable: reported.executable, version: reported.version };
          resolve({
            command,
            interpreter,
            missingModules: reported.missing,
            problem: reported.missing.length ? `lacks ${reported.missing.join(', ')}` : undefined,
          });
        } catch {
          const why = error
            ? error.killed
              ? `timed out after ${probeTimeoutMs} ms`
              : error.message
            : 'no answer';
          resolve({ command, problem: `did not run as Python (${why.split('\n')[0]})`, missingModules: [] });
        }
      },
    );
  });
}

/**
 * The first interpreter that fits; rejects with a {@link DependencyMissingError} that lists every
 * interpreter tried, what each lacked, and how to install what is missing.
 */
export async function findPython(options: FindPythonOptions = {}): Promise<PythonInterpreter> {
  const environment = options.environment ?? process.env;
  const required = options.requiredModules ?? [];
  const chosen = options.python ?? environment.MILLRACE_PYTHON;
  const source = options.python
    ? 'the python option'
    : environment.MILLRACE_PYTHON
      ? 'MILLRACE_PYTHON'
      : undefined;
  const candidates = chosen ? [chosen] : (options.candidates ?? defaultPythonCandidates);

  const probes: PythonProbe[] = [];
  for (const command of candidates) {
    const probe = await probePython(command, required, environment);
    if (!probe.problem && probe.interpreter) return probe.interpreter;
    probes.push(probe);
  }
  throw missingPythonError(probes, required, source);
}

function missingPythonError(
  probes: readonly PythonProbe[],
  required: readonly string[],
  source: string | undefined,
): DependencyMissingError {
  const tried = probes
    .map((probe) => {
      const where = probe.interpreter
        ? ` (${probe.interpreter.executable}, Python ${probe.interpreter.version})`
        : '';
      return `  - ${probe.command}${where}: ${probe.problem}`;
    })
    .join('\n');
  const missing = [...new Set(probes.flatMap((probe) => probe.missingModules))];
  const wanted = required.length ? ` that can import ${required.join(', ')}` : '';
  const lines = [
    `No usable Python interpreter${wanted}${source ? ` (chosen by ${source})` : ''}. Tried:`,
    tried,
  ];
  if (missing.length) {
    lines.push(
      `Install the missing modules: apt-get install ${missing.map(debianPackage).join(' ')} (Debian/Ubuntu), ` +
        `or <python> -m pip install ${missing.join(' ')}.`,
    );
  }
  if (probes.some((probe) => !probe.interpreter)) {
    lines.push('Install Python 3 (apt-get install python3), or name an interpreter with the python option.');
  }
  lines.push(
    'Choose an interpreter with the runner option `python` or the MILLRACE_PYTHON environment variable.',
  );
  return new DependencyMissingError(missing[0] ?? 'python', lines.join('\n'));
}

const debianNames: Readonly<Record<string, string>> = {
  torch: 'python3-torch',
  numpy: 'python3-numpy',
  msgpack: 'python3-msgpack',
  tensorflow: 'python3-tensorflow',
  yaml: 'python3-yaml',
  sklearn: 'python3-sklearn',
};

function debianPackage(module: string): string {
  const top = module.split('.')[0] ?? module;
  return debianNames[top] ?? `python3-${top.replaceAll('_', '-')}`;
}
