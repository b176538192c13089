// Runs the libFuzzer target for the C framing code (fuzz/framing-fuzz.cc) for a bounded time.
// It needs Debian's clang (libFuzzer + ASan); without it the test is skipped and says why.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { packageRoot } from './native-binding.js';

const clang = spawnSync('sh', ['-c', 'command -v clang++'], { encoding: 'utf8' }).stdout.trim();
const seconds = process.env.MILLRACE_FUZZ_SECONDS ?? '8';

describe('ring framing fuzz target', () => {
  it.skipIf(!clang)(
    `survives ${seconds} s of libFuzzer + AddressSanitizer${clang ? '' : ' (SKIPPED: clang++ not found; apt-get install -y clang)'}`,
    () => {
      const result = spawnSync(join(packageRoot, 'fuzz', 'run.sh'), [seconds], {
        encoding: 'utf8',
        timeout: 120_000,
      });
      const output = `${result.stdout}\n${result.stderr}`;
      expect(result.status, output.slice(-3000)).toBe(0);
      expect(output).toMatch(/Done \d+ runs/);
    },
    120_000,
  );
});
