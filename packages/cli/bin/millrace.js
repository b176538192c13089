#!/usr/bin/env node
// The `millrace` command. npm links a workspace's bin at `npm ci`, before anything is built, and
// skips a bin whose file does not exist yet; so the bin is this file, which is in every clone, and
// it runs the built CLI, or says how to build it when it is not built yet.
import { existsSync } from 'node:fs';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write(
    'millrace: the CLI is not built yet (packages/cli/dist/bin.js is missing): run `npm run build` in the repository root\n',
  );
  process.exit(1);
}
await import(built.href);
