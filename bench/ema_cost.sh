#!/bin/bash
# What the moving average (train.ema_decay) costs a training epoch, beside PyTorch's
# AveragedModel: seed 002's VGG blocks (vgg-blocks, 9.5M weights, Adam 1e-3) at batch 16 on
# LIMIT_TRAIN CIFAR-10 images (default 1600: 100 steps; 100 test images, no validation
# split), one epoch, decays 0 (off) and DECAY (default 0.99) interleaved, REPEATS rounds
# (default 3). A net this large at a batch this small is where a per-step update of every
# weight shows most. Prints per run: side, decay, round, seconds (train + test).
#   bash bench/ema_cost.sh     (from the repository root, after cargo build --release)
#   CONVLAB=../old/target/release/convlab PYTORCH=0 bash bench/ema_cost.sh   # another build alone
set -euo pipefail
B=${CONVLAB:-target/release/convlab}
D=${DATA:-../shared/datasets}
N=${LIMIT_TRAIN:-1600}
OUT=$(mktemp -d)
echo "side ema round seconds"
for r in $(seq 1 "${REPEATS:-3}"); do
  for ema in 0 "${DECAY:-0.99}"; do
    $B train examples/cifar10-bn-prelu.toml --data-dir "$D" --run-dir "$OUT/run" --quiet \
      --set name=ema-cost --set model.preset=vgg-blocks --set train.batch_size=16 \
      --set optimizer.name=adam --set optimizer.lr=1e-3 --set train.epochs=1 \
      --set data.limit_train="$N" --set data.limit_test=100 --set data.val_fraction=0 \
      --set train.chance_epochs=0 --set train.ema_decay="$ema" >/dev/null
    tail -n +2 "$OUT/run/timing.csv" | awk -F, -v e="$ema" -v r="$r" '{printf "convlab %s %s %.2f\n", e, r, $2}'
    rm -rf "$OUT/run"
    [ "${PYTORCH:-1}" = 0 ] && continue
    flag=$([ "$ema" = 0 ] || echo "--ema $ema")
    python3 bench/pytorch_epoch.py --dataset cifar10 --model vgg-blocks --batch 16 --lr 1e-3 \
      --epochs 1 --val-fraction 0 --limit-train "$N" --limit-test 100 --data-dir "$D" $flag |
      python3 -c "import json,sys
for l in sys.stdin:
    print('pytorch $ema $r', json.loads(l)['seconds'])"
  done
done
rm -rf "$OUT"
