#!/usr/bin/env node
import { main } from './program.js';

await main(process.argv, {
  stdout: process.stdout,
  stderr: process.stderr,
  setExitCode: (code) => {
    process.exitCode = code;
  },
});
