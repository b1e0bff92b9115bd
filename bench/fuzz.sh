#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, cargo-fuzz, nightly) of every parser that reads a user's
# file: fuzz/fuzz_targets/*.rs (IDX, CIFAR binary, pickle and CIFAR python batches, the
# checkpoint, run and study TOML, image-folder .tar.gz, the decoded-dataset cache, PyTorch
# state_dict import, the JPEG decoder).
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
  # Seeds: valid inputs where random mutation would not reach one (the fuzzer cannot guess a
  # 12-byte magic or a size that is a multiple of 3073), and every input that once crashed.
  [ "$t" = state_dict ] && cp -n tests/fixtures/pytorch/*.pth "fuzz/corpus/$t/" 2>/dev/null || true
  [ -d "tests/fixtures/fuzz/$t" ] && cp -n "tests/fixtures/fuzz/$t"/* "fuzz/corpus/$t/"
  [ "$t" = jpeg ] && cp -n tests/fixtures/jpeg/*.jpg "fuzz/corpus/$t/"
  if [ "$t" = cifar ]; then   # one and two records: labels 3 and 9, pixels 0..255 repeated
    python3 -c "import sys; r=lambda l: bytes([l])+bytes(i%256 for i in range(3072)); sys.stdout.buffer.write(r(3))" > "fuzz/corpus/$t/seed-1-record"
    python3 -c "import sys; r=lambda l: bytes([l])+bytes(i%256 for i in range(3072)); sys.stdout.buffer.write(r(3)+r(9))" > "fuzz/corpus/$t/seed-2-records"
  fi
  if [ "$t" = checkpoint ] && [ ! -f "fuzz/corpus/$t/seed-tiny.ckpt" ]; then
    run="$(mktemp -d)/run"
    cargo run --release -q -- train fuzz/seeds/tiny-checkpoint.toml --quiet --run-dir "$run" \
      --data-dir "${CONVLAB_DATA:-../shared/datasets}" > /dev/null \
      && cp "$run/best.ckpt" "fuzz/corpus/$t/seed-tiny.ckpt" \
      || echo "checkpoint: no seed (needs MNIST under \$CONVLAB_DATA); starting from nothing" >&2
  fi
  echo "== $t: $secs s"
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" -- -max_total_time="$secs" -max_len=65536 \
    -timeout=10 -rss_limit_mb=4096 2>&1 | grep -E "DONE|Done [0-9]+ runs|ERROR|SUMMARY|panicked|deadly" || true
done
