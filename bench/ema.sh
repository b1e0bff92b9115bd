#!/bin/bash
# The moving average of the weights (train.ema_decay) beside PyTorch's AveragedModel: seed
# 001's CIFAR-10 net (cifar-cnn, Adam 1e-3, batch 64, no augmentation, as the whole-epoch
# table) for EPOCHS epochs (default 3), seeds 0-2, for each decay in DECAYS (default "0
# 0.999"; 0 = off), beside bench/pytorch_epoch.py --ema (AveragedModel with
# get_ema_multi_avg_fn, use_buffers=True, updated after every step; val and test of the
# average). Prints, per run and epoch: test accuracy and seconds (train + val + test).
#   bash bench/ema.sh            (from the repository root, after cargo build --release)
#   DECAYS=0.99 bash bench/ema.sh   # a shorter average only
set -euo pipefail
B=target/release/convlab
D=${DATA:-../shared/datasets}
E=${EPOCHS:-3}
DECAYS=${DECAYS:-0 0.999}
OUT=$(mktemp -d)
echo "side ema seed epoch test_acc seconds"
for s in ${SEEDS:-0 1 2}; do
  for ema in $DECAYS; do
    $B train examples/cifar10-bn-prelu.toml --data-dir "$D" --run-dir "$OUT/run" --quiet \
      --set name=ema-$ema-s$s --set seed=$s --set model.preset=cifar-cnn --set train.batch_size=64 \
      --set optimizer.lr=1e-3 --set train.epochs=$E --set train.ema_decay=$ema >/dev/null
    paste -d, <(tail -n +2 "$OUT/run/metrics.csv") <(tail -n +2 "$OUT/run/timing.csv") |
      awk -F, -v e=$ema -v s=$s '{printf "convlab %s %s %s %.2f %.1f\n", e, s, $1, 100*$7, $10}'
    rm -rf "$OUT/run"
    flag=$([ "$ema" = 0 ] || echo "--ema $ema")
    python3 bench/pytorch_epoch.py --dataset cifar10 --model cifar-cnn --batch 64 --lr 1e-3 \
      --epochs $E --seed $s --data-dir "$D" $flag |
      python3 -c "import json,sys
for l in sys.stdin:
    r = json.loads(l); print('pytorch $ema $s', r['epoch'], '%.2f' % (100 * r['test_acc']), r['seconds'])"
  done
done
rm -rf "$OUT"
