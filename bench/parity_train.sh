#!/usr/bin/env bash
# convlab and PyTorch side by side on the same data, net and recipe: test accuracy after
# EPOCHS epochs for SEEDS seeds each, mean ± std, and Welch's t-test on the difference.
# PyTorch trains bench/seed_nets.py's nets (the seeds' classes) with bench/pytorch_epoch.py
# (same 10% validation split size, per-channel normalization from train, Adam, batch).
#
#   bash bench/parity_train.sh mnist      # seed 001's MNIST net, Adam 1e-3, batch 64, 2 epochs
#   bash bench/parity_train.sh cifar10    # seed 004's net, Adam 2e-3, batch 32, 2 epochs
#   SEEDS=3 EPOCHS=3 bash bench/parity_train.sh cifar10
#   OPTIMIZER=nadam bash bench/parity_train.sh mnist   # another optimizer.name at the same lr
# needs: pip install torch numpy scipy pillow
set -euo pipefail
cd "$(dirname "$0")/.."
CASE=${1:-mnist}
SEEDS=${SEEDS:-3}
DATA=${CONVLAB_DATA:-../shared/datasets}
case $CASE in
  mnist) CFG=examples/mnist.toml MODEL=mnist-cnn BATCH=64 LR=1e-3 EPOCHS=${EPOCHS:-2} ;;
  cifar10) CFG=examples/cifar10-bn-prelu.toml MODEL=bn-prelu-cnn BATCH=32 LR=2e-3 EPOCHS=${EPOCHS:-2} ;;
  *) echo "usage: $0 mnist|cifar10" >&2; exit 2 ;;
esac
OPTIMIZER=${OPTIMIZER:-adam}
BIN=${CONVLAB:-target/release/convlab}   # CONVLAB=path: a copy, so rebuilding does not change it mid-run
[ -n "${CONVLAB:-}" ] || cargo build --release -q
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
CL=() PT=()
for ((s = 0; s < SEEDS; s++)); do
  dir="$TMP/convlab-$s"
  "$BIN" train "$CFG" --data-dir "$DATA" --run-dir "$dir" --quiet --set "train.epochs=$EPOCHS" --set "seed=$s" \
    --set "optimizer.name=$OPTIMIZER" --set "optimizer.lr=$LR" >/dev/null
  CL+=("$(python3 -c "import json; print(json.load(open('$dir/summary.json'))['test_acc'])")")
  PT+=("$(python3 bench/pytorch_epoch.py --dataset "$CASE" --model "$MODEL" --batch "$BATCH" --lr "$LR" \
    --optimizer "$OPTIMIZER" --epochs "$EPOCHS" --seed "$s" --data-dir "$DATA" | tail -1 | python3 -c "import json,sys; print(json.loads(sys.stdin.read())['test_acc'])")")
  echo "seed $s: convlab ${CL[-1]}  pytorch ${PT[-1]}" >&2
done
python3 - "$CASE" "$MODEL" "$EPOCHS" "${CL[*]}" "${PT[*]}" "$OPTIMIZER" <<'PY'
import statistics as st, sys
from scipy.stats import ttest_ind
case, model, epochs, cl, pt = sys.argv[1], sys.argv[2], sys.argv[3], [float(x) * 100 for x in sys.argv[4].split()], [float(x) * 100 for x in sys.argv[5].split()]
optimizer = sys.argv[6]
p = ttest_ind(cl, pt, equal_var=False).pvalue
print(f"| {case} | {model}, {optimizer} | {epochs} | {len(cl)} | {st.mean(cl):.2f} ± {st.stdev(cl):.2f} | {st.mean(pt):.2f} ± {st.stdev(pt):.2f} | {p:.2f} | {'differ' if p < 0.05 else 'no significant difference'} |")
print("runs: convlab", " ".join(f"{x:.2f}" for x in cl), "| pytorch", " ".join(f"{x:.2f}" for x in pt))
PY
