#!/usr/bin/env bash
# convlab bench beside bench/pytorch.py, interleaved, REPEATS times each; prints one
# Markdown table: preset, batch, device, convlab img/s, PyTorch img/s, ratio (median, with
# min-max over the repeats).
#   bench/compare.sh                      # CPU: mnist-cnn b64, bn-prelu-cnn b32, 3 repeats, 100 steps
#   DEVICE=cuda CASES="resnet18:512 bn-prelu-cnn:512" bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
device=${DEVICE:-cpu}
cases=${CASES:-"mnist-cnn:64 bn-prelu-cnn:32"}
repeats=${REPEATS:-3}
steps=${STEPS:-100}   # timed steps per run, after 5 warm-up steps
bin=${CONVLAB:-target/release/convlab}
python=${PYTHON:-python3}
[ -x "$bin" ] || cargo build --release
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for case in $cases; do
  model=${case%%:*}; batch=${case##*:}
  for r in $(seq "$repeats"); do
    c=$("$bin" bench --device "$device" --model "$model" --batch "$batch" --steps "$steps" --json)
    p=$("$python" bench/pytorch.py --device "$device" --model "$model" --batch "$batch" --steps "$steps")
    rate() { "$python" -c "import json,sys; print(json.loads(sys.argv[1])['train_images_per_s'])" "$1"; }
    echo "$model $batch $(rate "$c") $(rate "$p")" >> "$out"
  done
done
"$python" - "$out" "$device" <<'PY'
import sys, statistics as st
rows, device = {}, sys.argv[2]
for line in open(sys.argv[1]):
    m, b, c, p = line.split()
    rows.setdefault((m, int(b)), []).append((float(c), float(p)))
print("| preset | batch | device | convlab img/s | PyTorch img/s | ratio convlab / PyTorch |")
print("|---|---:|---|---:|---:|---:|")
for (m, b), v in rows.items():
    c = [x for x, _ in v]; p = [y for _, y in v]; r = [x / y for x, y in v]
    f = lambda xs, d=0: f"{st.median(xs):.{d}f} ({min(xs):.{d}f}–{max(xs):.{d}f})"
    print(f"| {m} | {b} | {device} | {f(c)} | {f(p)} | {f(r, 2)} |")
print(f"\n{len(next(iter(rows.values())))} interleaved repeats each; median (min–max).")
PY
