import { describe, expect, it } from 'vitest';
import { parseClusterConfig } from './config.js';
import { ConfigError } from './errors.js';

function configErrorOf(input: unknown): ConfigError {
  try {
    parseClusterConfig(input);
  } catch (error) {
    if (ConfigError.isInstance(error)) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseClusterConfig', () => {
  it('fills the documented defaults', () => {
    const config = parseClusterConfig({ engine: 'pytorch', roles: { worker: { instances: 2 } } });
    expect(config).toMatchObject({
      name: 'millrace-job',
      maxRestarts: 3,
      heartbeat: { intervalMs: 500, missedLimit: 3 },
      host: '127.0.0.1',
    });
  });

  it('names the field of a zero instance count', () => {
    const error = configErrorOf({ engine: 'pytorch', roles: { worker: { instances: 0 } } });
    expect(error.issues[0]?.path).toBe('roles.worker.instances');
    expect(error.message).toContain('config.roles.worker.instances');
    expect(error.message).toContain('must be a positive integer');
    expect(error.message).not.toContain('zero');
  });

  it('names negative timeouts and unknown fields together', () => {
    const error = configErrorOf({
      engine: 'pytorch',
      roles: { worker: { instances: 1 } },
      registrationTimeoutMs: -5,
      workerz: 3,
    });
    const paths = error.issues.map((issue) => issue.path);
    expect(paths).toContain('registrationTimeoutMs');
    expect(error.message).toContain("'workerz'");
  });

  it('rejects a config without roles or engine', () => {
    const error = configErrorOf({ roles: {} });
    expect(error.issues.map((issue) => issue.path).sort()).toEqual(['engine', 'roles']);
  });
});
