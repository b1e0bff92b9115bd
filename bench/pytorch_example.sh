#!/usr/bin/env bash
# PyTorch's own MNIST example (pytorch/examples mnist/main.py: its net, Adadelta lr 1.0,
# StepLR(1, 0.7), batch 64, no validation split) trained by convlab from
# examples/mnist-pytorch-example.toml and by bench/pytorch_epoch.py with the net convlab
# exports, interleaved so both see the same load. Prints each run's per-epoch test accuracy
# and seconds, then the median seconds per epoch of each and their ratio.
#
#   EPOCHS=2 REPEATS=3 LIMIT_TRAIN=10000 bash bench/pytorch_example.sh
#   SEEDS="0 1" EPOCHS=3 bash bench/pytorch_example.sh      # accuracy: all 60,000 images
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${CONVLAB_DATA:-../shared/datasets}
EPOCHS=${EPOCHS:-2}
REPEATS=${REPEATS:-1}
SEEDS=${SEEDS:-0}
LIMIT_TRAIN=${LIMIT_TRAIN:-0}
cargo build --release -q
BIN=target/release/convlab
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
CFG=examples/mnist-pytorch-example.toml

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%F)"
echo "$($BIN --version); torch $(python3 -c 'import torch; print(torch.__version__, "threads", torch.get_num_threads())')"
echo "EPOCHS=$EPOCHS REPEATS=$REPEATS SEEDS=\"$SEEDS\" LIMIT_TRAIN=$LIMIT_TRAIN"

convlab_run() { # seed -> "seconds acc" per epoch, one line each
  local dir="$TMP/convlab-$RANDOM$RANDOM"
  "$BIN" train "$CFG" --data-dir "$DATA" --run-dir "$dir" --quiet --set seed="$1" \
    --set train.epochs="$EPOCHS" --set data.limit_train="$LIMIT_TRAIN" >/dev/null
  [ -f "$TMP/net.py" ] || "$BIN" export --format pytorch "$dir/last.ckpt" -o "$TMP/net.pth" >/dev/null
  python3 -c "
import csv
t = list(csv.DictReader(open('$dir/timing.csv')))
m = list(csv.DictReader(open('$dir/metrics.csv')))
for a, b in zip(t, m): print(a['seconds'], b['test_acc'])"
}
pytorch_run() { # seed
  python3 bench/pytorch_epoch.py --dataset mnist --model pytorch-example --net-py "$TMP/net.py" \
    --optimizer adadelta --lr 1.0 --step-gamma 0.7 --val-fraction 0 --batch 64 \
    --epochs "$EPOCHS" --limit-train "$LIMIT_TRAIN" --seed "$1" --data-dir "$DATA" |
    python3 -c "
import json, sys
for line in sys.stdin: r = json.loads(line); print(r['seconds'], r['test_acc'])"
}

c=(); p=()
for r in $(seq "$REPEATS"); do
  for seed in $SEEDS; do
    while read -r s a; do c+=("$s"); echo "convlab seed $seed run $r: ${s}s test $a"; done < <(convlab_run "$seed")
    while read -r s a; do p+=("$s"); echo "pytorch seed $seed run $r: ${s}s test $a"; done < <(pytorch_run "$seed")
  done
done
python3 - "${#c[@]}" "${c[@]}" "${p[@]}" <<'EOF'
import statistics as st, sys
n = int(sys.argv[1]); c = [float(x) for x in sys.argv[2:2 + n]]; p = [float(x) for x in sys.argv[2 + n:]]
f = lambda v: f"{st.median(v):.1f} ({min(v):.1f}-{max(v):.1f})"
print(f"s/epoch, median (min-max) of {n} epochs: convlab {f(c)}, PyTorch {f(p)}; "
      f"PyTorch s / convlab s = {st.median(p) / st.median(c):.2f}")
EOF
