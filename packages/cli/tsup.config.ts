import { defineConfig } from 'tsup';

export default defineConfig({
  // The board's worker runs as its own file: dist/board-worker.js (see src/run/board-thread.ts).
  entry: { index: 'src/index.ts', bin: 'src/bin.ts', 'board-worker': 'src/run/board-worker.ts' },
  format: ['esm'],
  target: 'node20',
  tsconfig: 'tsconfig.build.json',
  dts: true,
  sourcemap: true,
  clean: true,
});
