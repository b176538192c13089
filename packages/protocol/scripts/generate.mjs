// Generates TypeScript from proto/ with Debian's protoc and ts-proto.
//   node scripts/generate.mjs           writes src/generated/
//   node scripts/generate.mjs --check   regenerates into a temp dir and fails if src/generated/ is stale
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoRoot = join(packageRoot, 'proto');
const committed = join(packageRoot, 'src', 'generated');
const check = process.argv.includes('--check');

const require = createRequire(import.meta.url);
const plugin = join(dirname(require.resolve('ts-proto/package.json')), 'protoc-gen-ts_proto');
const protoc = process.env.PROTOC ?? 'protoc';

function listFiles(root, suffix) {
  if (!existsSync(root)) return [];
  return readdirSync(root, { recursive: true })
    .map(String)
    .filter((file) => file.endsWith(suffix) && statSync(join(root, file)).isFile())
    .sort();
}

function generate(outDir) {
  mkdirSync(outDir, { recursive: true });
  try {
    execFileSync(
      protoc,
      [
        `--plugin=protoc-gen-ts_proto=${plugin}`,
        `--ts_proto_out=${outDir}`,
        '--ts_proto_opt=outputServices=grpc-js,esModuleInterop=true,importSuffix=.js,env=node',
        `--proto_path=${protoRoot}`,
        ...listFiles(protoRoot, '.proto'),
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
  } catch (error) {
    if (error.code === 'ENOENT') {
      console.error(`protoc not found (${protoc}). Install it: apt-get install -y protobuf-compiler`);
      process.exit(2);
    }
    throw error;
  }
}

if (!check) {
  rmSync(committed, { recursive: true, force: true });
  generate(committed);
  console.log(
    `generated ${listFiles(committed, '.ts').length} file(s) into ${relative(process.cwd(), committed)}`,
  );
} else {
  const fresh = mkdtempSync(join(tmpdir(), 'millrace-protocol-'));
  try {
    generate(fresh);
    const expected = listFiles(fresh, '.ts');
    const actual = listFiles(committed, '.ts');
    const stale = [
      ...expected.filter(
        (file) =>
          !actual.includes(file) ||
          readFileSync(join(fresh, file), 'utf8') !== readFileSync(join(committed, file), 'utf8'),
      ),
      ...actual.filter((file) => !expected.includes(file)),
    ];
    if (stale.length) {
      console.error(
        `src/generated is stale (${stale.join(', ')}). Run: npm run -w @millrace/protocol generate`,
      );
      process.exit(1);
    }
    console.log(`src/generated is current (${expected.length} file(s))`);
  } finally {
    rmSync(fresh, { recursive: true, force: true });
  }
}
