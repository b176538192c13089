import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/dashboard-worker.ts', 'src/testing/prometheus-text.ts'],
  format: ['esm'],
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
  dts: true,
  sourcemap: true,
  clean: true,
});
