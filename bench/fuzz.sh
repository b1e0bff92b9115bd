#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, cargo-fuzz, nightly) of every parser that reads a user's
# file: fuzz/fuzz_targets/*.rs (IDX, CIFAR binary, pickle and CIFAR python batches, the
# checkpoint, run and study TOML, image-folder .tar.gz, the decoded-dataset cache, PyTorch
# state_dict import).
#   cargo install cargo-fuzz                       # once
#   bash bench/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     # default 600 s, every target
# A crash or a timeout is saved under fuzz/artifacts/<target>/; fix it and keep the input as a
# regression case in tests/fixtures/fuzz/<target>/ (tests/robustness.rs replays them).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=${*:-$(cargo +nightly fuzz list --fuzz-dir fuzz)}
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  # Seeds: the test fixtures of the same format, where there are some.
  [ "$t" = state_dict ] && cp -n tests/fixtures/pytorch/*.pth "fuzz/corpus/$t/" 2>/dev/null || true
  echo "== $t: $secs s"
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" -- -max_total_time="$secs" -max_len=65536 \
    -timeout=10 -rss_limit_mb=4096 2>&1 | grep -E "Done [0-9]+ runs|ERROR|SUMMARY|panicked|deadly" || true
done
