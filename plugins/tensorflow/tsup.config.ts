import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/training-process.ts', 'src/prediction-process.ts', 'src/engine.ts'],
  format: ['esm'],
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
  dts: true,
  sourcemap: true,
  clean: true,
});
