#!/usr/bin/env bash
# Builds the ring framing fuzz target with clang's libFuzzer + AddressSanitizer and runs it for a
# bounded time. Usage: fuzz/run.sh [seconds=60]. Exit 0: no crash found; exit 2: no clang++;
# anything else: libFuzzer found a crash (the reproducer is kept in fuzz/artifacts/).
set -euo pipefail
seconds="${1:-60}"
here="$(cd "$(dirname "$0")" && pwd)"
clang="${CLANGXX:-$(command -v clang++ || true)}"
if [[ -z "$clang" ]]; then
  echo "fuzz/run.sh: clang++ not found; install Debian's clang (apt-get install -y clang) to fuzz" >&2
  exit 2
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/millrace-fuzz-XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/corpus" "$here/artifacts"
"$clang" -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -o "$work/framing-fuzz" "$here/framing-fuzz.cc"
"$work/framing-fuzz" -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 \
  -artifact_prefix="$here/artifacts/" "$work/corpus"
