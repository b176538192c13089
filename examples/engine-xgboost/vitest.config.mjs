import { defineProject, mergeConfig } from 'vitest/config';
import { sharedProjectConfig } from '../../vitest.shared.ts';

// Inside the repository the tests resolve @millrace/* like every workspace does (TypeScript
// sources); test/packed.test.mjs covers the package as users get it, from packed tarballs.
export default mergeConfig(
  sharedProjectConfig(import.meta.dirname),
  defineProject({
    test: { include: ['test/**/*.test.mjs'], testTimeout: 120_000, hookTimeout: 400_000 },
  }),
);
