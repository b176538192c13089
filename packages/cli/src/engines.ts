/**
 * The engines the CLI knows by name. `generic` is built in (its roles come from the command line);
 * engine packages register theirs by adding one entry to {@link builtInEngines}.
 */
import { type MLFramework, MLFrameworkRegistry } from '@millrace/core';
import { pytorch } from '@millrace/plugin-pytorch';
import { tensorflow } from '@millrace/plugin-tensorflow';
import { createGenericEngine, type GenericEngineOptions } from '@millrace/runtime';

export const builtInEngines: readonly MLFramework[] = [tensorflow, pytorch];

/** The engine registered under `name`; a ConfigError listing the known engines otherwise. */
export function engineByName(name: string, generic: GenericEngineOptions = {}): MLFramework {
  const registry = new MLFrameworkRegistry().register(createGenericEngine(generic));
  for (const engine of builtInEngines) registry.register(engine);
  return registry.get(name);
}
