import { defineConfig } from 'tsup';

export default defineConfig({
  // The local app supervisor is a program of its own: the local scheduler starts it detached.
  entry: ['src/index.ts', 'src/testing/index.ts', 'src/local/local-app-supervisor.ts'],
  format: ['esm'],
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
  dts: true,
  sourcemap: true,
  clean: true,
});
