import { describe, expect, it } from 'vitest';
import { parseClusterConfig } from './config.js';
import { ConfigError, MillraceError, VersionMismatchError } from './errors.js';
import {
  defineEngine,
  defineMLFramework,
  EngineRegistry,
  type MLFramework,
  MLFrameworkRegistry,
  validateConfigForEngine,
} from './ml-framework.js';

const engine: MLFramework = defineMLFramework({
  specificationVersion: 'v1',
  name: 'tiny',
  roles: [
    { name: 'worker', description: 'does the work', lifecycle: 'finishes', required: true },
    { name: 'ps', description: 'holds variables', lifecycle: 'serves' },
  ],
  isJobFinished: () => true,
  failurePolicy: () => 'restart-all',
  nodeEnvironment: ({ role, index }) => ({ TINY_TASK: `${role}/${index}` }),
});

describe('engines', () => {
  it('rejects an engine written for an unknown specification version', () => {
    expect(() => defineMLFramework({ ...engine, specificationVersion: 'v9' as 'v1' })).toThrow(
      VersionMismatchError,
    );
    expect(() => defineMLFramework({ ...engine, specificationVersion: 'v9' as 'v1' })).toThrow(
      /MLFramework 'tiny' specificationVersion/,
    );
  });

  it('keeps the deprecated Engine names working for one release', () => {
    expect(defineEngine).toBe(defineMLFramework);
    expect(EngineRegistry).toBe(MLFrameworkRegistry);
    expect(new EngineRegistry().register(engine).get('tiny')).toBe(engine);
  });

  it('validates a config against the roles the engine knows and requires', () => {
    const config = parseClusterConfig({
      engine: 'tiny',
      roles: { ps: { instances: 1 }, chief: { instances: 1 } },
    });
    let error: unknown;
    try {
      validateConfigForEngine(engine, config);
    } catch (caught) {
      error = caught;
    }
    expect(ConfigError.isInstance(error)).toBe(true);
    const message = (error as ConfigError).message;
    expect(message).toContain("config.roles.chief: engine 'tiny' has no role 'chief'");
    expect(message).toContain("config.roles.worker: engine 'tiny' requires this role");
  });

  it('registers explicitly and idempotently, and names the known engines on a miss', () => {
    const registry = new MLFrameworkRegistry().register(engine).register(engine);
    expect(registry.names()).toEqual(['tiny']);
    expect(() => registry.register({ ...engine })).toThrow(/already registered/);
    expect(() => registry.get('pytorch')).toThrow(/unknown engine 'pytorch'; registered engines: tiny/);
  });

  it('brands errors so isInstance works across package copies', () => {
    const foreign = Object.assign(new Error('x'), { [Symbol.for('millrace.error')]: true, code: 'TIMEOUT' });
    expect(MillraceError.isInstance(foreign)).toBe(true);
    expect(MillraceError.isInstance(new Error('plain'))).toBe(false);
  });
});
