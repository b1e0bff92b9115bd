#!/bin/bash
# Weight inits beside PyTorch: seed 001's MNIST net (mnist-cnn) and recipe (examples/mnist.toml:
# Adam 1e-3, batch 64) for EPOCHS epochs (default 1) with model.init set to each choice, beside
# bench/pytorch_epoch.py --init (the same torch.nn.init call on every conv and linear weight,
# biases zeroed; "default" is both sides' own layer init), seeds 0 and 1. Prints each run's
# final line; the table is in bench/RESULTS.md.
#   bash bench/inits.sh            (from the repository root, after cargo build --release)
#   OPTIMIZER=sgd LR=0.05 bash bench/inits.sh   # plain SGD, where the start matters more
set -euo pipefail
B=target/release/convlab
D=${DATA:-../shared/datasets}
E=${EPOCHS:-1}
OPT=${OPTIMIZER:-adam}
LR=${LR:-1e-3}
OUT=$(mktemp -d)
for i in ${INITS:-default kaiming kaiming-uniform xavier xavier-normal lecun-normal orthogonal}; do
  for s in 0 1; do
    $B train examples/mnist.toml --data-dir "$D" --runs-dir "$OUT/runs" --set name=init-$i-s$s \
      --set seed=$s --set model.init=$i --set train.epochs=$E --set optimizer.name=$OPT \
      --set optimizer.lr=$LR --quiet 2>&1 | tail -1 | sed "s/^/convlab $i seed $s: /"
    flag=$([ "$i" = default ] || echo "--init $i")
    python3 bench/pytorch_epoch.py --dataset mnist --model mnist-cnn --batch 64 --lr $LR --epochs $E \
      --optimizer $OPT --seed $s --data-dir "$D" $flag | tail -1 | sed "s/^/pytorch $i seed $s: /"
  done
done
rm -rf "$OUT"
