import { basename } from 'node:path';
import type { UserWorkspaceConfig } from 'vitest/config';

// Vite's default server conditions, with ours first.
const conditions = ['millrace-source', 'module', 'node', 'development|production'];

/**
 * Every workspace resolves `@millrace/*` imports to TypeScript sources (the `millrace-source`
 * export condition), so unit tests never run against a stale `dist/`. Child processes that tests
 * spawn still load the built `dist/`, which is why `npm test` builds first.
 */
export function sharedProjectConfig(directory: string): UserWorkspaceConfig {
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
