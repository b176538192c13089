import { basename } from 'node:path';
import { defaultServerConditions, type UserWorkspaceConfig } from 'vitest/config';

/**
 * Every workspace resolves `@millrace/*` imports to TypeScript sources (the `millrace-source`
 * export condition), so unit tests never run against a stale `dist/`. Child processes that tests
 * spawn still load the built `dist/`, which is why `npm test` builds first.
 */
export function sharedProjectConfig(directory: string): UserWorkspaceConfig {
  const conditions = ['millrace-source', ...defaultServerConditions];
  return {
    resolve: { conditions },
    ssr: { resolve: { conditions, externalConditions: ['millrace-source'] } },
    test: {
      name: basename(directory) === 'test' ? 'integration' : basename(directory),
      root: directory,
      include: ['src/**/*.test.ts'],
      testTimeout: 30_000,
      hookTimeout: 30_000,
    },
  };
}
