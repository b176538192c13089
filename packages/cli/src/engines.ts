/**
 * How the CLI finds an engine (an `MLFramework`) by name, so adding one never means editing the CLI:
 *
 * 1. the built-in engines: `generic` (its roles come from the command line), `tensorflow`, `pytorch`;
 * 2. the engines a `millrace.config.{ts,mjs,js}` at the project root lists
 *    (`export default { engines: [xgboost, 'millrace-engine-horovod'] }`), matched by engine name
 *    or, for a listed package, by package name;
 * 3. an installed package named NAME (`millrace am --engine millrace-engine-xgboost`): its default
 *    export or its named `engine` export, checked with `defineMLFramework`.
 *
 * The project root is the nearest directory, from the working directory up, with a package.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError, defineMLFramework, type MLFramework, MLFrameworkRegistry } from '@millrace/core';
import { createGenericEngine, type GenericEngineOptions } from '@millrace/runtime';
import { tsImport } from 'tsx/esm/api';

/**
 * The engines the CLI knows by name, loaded only when a command names one: TensorFlow.js alone
 * takes seconds to import, and a generic job or `millrace --help` should not pay for it. The
 * TensorFlow plugin is an optional peer of the CLI (TensorFlow.js is most of an installation's
 * size), so a project that uses it installs it.
 */
export const builtInEngines: Readonly<Record<string, () => Promise<MLFramework>>> = {
  tensorflow: async () =>
    (await importPlugin('@millrace/plugin-tensorflow', () => import('@millrace/plugin-tensorflow')))
      .tensorflow,
  pytorch: async () => (await import('@millrace/plugin-pytorch')).pytorch,
};

export async function importPlugin<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const missing =
      (error as NodeJS.ErrnoException)?.code === 'ERR_MODULE_NOT_FOUND' &&
      String((error as Error).message).includes(`'${name}'`);
    if (!missing) throw error;
    throw engineError(`this engine is in ${name}, which is not installed: npm install ${name}`);
  }
}

export const configFileNames = ['millrace.config.ts', 'millrace.config.mjs', 'millrace.config.js'] as const;

export interface FindEngineOptions {
  /** Settings of the built-in `generic` engine. */
  generic?: GenericEngineOptions;
  /** Where the search for the project root starts. Default: the working directory. */
  directory?: string;
}

function engineError(message: string): ConfigError {
  return new ConfigError([{ path: 'engine', message }], { subject: 'options' });
}

/** The nearest directory from `start` up that holds a package.json; `start` itself when none does. */
export function projectRoot(start: string): string {
  let directory = resolve(start);
  for (;;) {
    if (existsSync(join(directory, 'package.json'))) return directory;
    const parent = dirname(directory);
    if (parent === directory) return resolve(start);
    directory = parent;
  }
}

/** The engine called `name`, searched as the file comment says; a ConfigError naming where it looked. */
export async function findEngine(name: string, options: FindEngineOptions = {}): Promise<MLFramework> {
  const generic = createGenericEngine(options.generic ?? {});
  if (name === generic.name) return generic;
  const builtIn = Object.hasOwn(builtInEngines, name) ? builtInEngines[name] : undefined;
  if (builtIn) return new MLFrameworkRegistry().register(await builtIn()).get(name);
  const builtInNames = [generic.name, ...Object.keys(builtInEngines)];

  const root = projectRoot(options.directory ?? process.cwd());
  const config = await loadProjectConfig(root);
  if (config) {
    for (const entry of config.engines) {
      const engine = typeof entry === 'string' ? await engineFromPackage(entry, root, config.file) : entry;
      if (engine.name === name || entry === name) return engine;
    }
  }
  if (isPackageName(name) && findPackageDirectory(name, root)) return engineFromPackage(name, root);
  throw engineError(
    `unknown engine '${name}': not built in (${builtInNames.join(', ')}), ` +
      `${config ? `not listed in ${config.file}` : `no ${configFileNames.join('/')} in ${root}`}, ` +
      `and no installed package '${name}' (install it: npm install ${name})`,
  );
}

interface ProjectConfig {
  file: string;
  engines: (MLFramework | string)[];
}

async function loadProjectConfig(root: string): Promise<ProjectConfig | undefined> {
  const file = configFileNames.map((candidate) => join(root, candidate)).find((path) => existsSync(path));
  if (!file) return undefined;
  const namespace = (await tsImport(pathToFileURL(file).href, import.meta.url)) as { default?: unknown };
  const config = namespace.default as { engines?: unknown } | undefined;
  const problem = (message: string) =>
    new ConfigError([{ path: 'engines', message }], { subject: `millrace config ${file}` });
  if (typeof config !== 'object' || config === null)
    throw problem('the file must export default { engines: [...] }');
  if (config.engines === undefined) return { file, engines: [] };
  if (!Array.isArray(config.engines)) throw problem('must be an array of engines or engine package names');
  const engines = config.engines.map((entry: unknown, index: number) => {
    if (typeof entry === 'string') return entry;
    try {
      return defineMLFramework(entry as MLFramework);
    } catch (error) {
      throw new ConfigError(
        [{ path: `engines.${index}`, message: `is not an MLFramework: ${(error as Error).message}` }],
        { subject: `millrace config ${file}`, cause: error },
      );
    }
  });
  return { file, engines };
}

function isPackageName(name: string): boolean {
  return /^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/.test(name);
}

/** The installed package's directory, looked up as Node does: node_modules from `root` upwards. */
function findPackageDirectory(name: string, root: string): string | undefined {
  let directory = root;
  for (;;) {
    const candidate = join(directory, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const parent = dirname(directory);
    if (parent === directory) return undefined;
    directory = parent;
  }
}

/** The file a package's root export points at for `import` (exports map, then main, then index.js). */
function packageEntry(directory: string): string {
  const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
    exports?: unknown;
    main?: string;
  };
  const fromExports = importTarget(
    typeof manifest.exports === 'object' && manifest.exports !== null && '.' in manifest.exports
      ? (manifest.exports as Record<string, unknown>)['.']
      : manifest.exports,
  );
  return join(directory, fromExports ?? manifest.main ?? 'index.js');
}

function importTarget(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (typeof target !== 'object' || target === null) return undefined;
  for (const condition of ['import', 'node', 'default']) {
    const found = importTarget((target as Record<string, unknown>)[condition]);
    if (found) return found;
  }
  return undefined;
}

async function engineFromPackage(packageName: string, root: string, listedIn?: string): Promise<MLFramework> {
  const directory = findPackageDirectory(packageName, root);
  if (!directory) {
    throw engineError(
      `package '${packageName}'${listedIn ? ` (listed in ${listedIn})` : ''} is not installed in ${root}: npm install ${packageName}`,
    );
  }
  const namespace = (await import(pathToFileURL(packageEntry(directory)).href)) as Record<string, unknown>;
  const candidate = namespace.engine ?? namespace.default;
  const shape = candidate as Partial<MLFramework> | undefined;
  if (typeof shape !== 'object' || shape === null || typeof shape.specificationVersion !== 'string') {
    throw engineError(
      `package '${packageName}' is not a Millrace engine: neither its default export nor a named ` +
        `'engine' export is an MLFramework (an object with specificationVersion 'v1', name, roles, ` +
        `isJobFinished, failurePolicy, nodeEnvironment)`,
    );
  }
  try {
    return defineMLFramework(shape as MLFramework);
  } catch (error) {
    throw new ConfigError(
      [
        {
          path: 'engine',
          message: `package '${packageName}' exports a broken MLFramework: ${(error as Error).message}`,
        },
      ],
      { subject: 'options', cause: error },
    );
  }
}
