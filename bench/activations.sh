#!/bin/bash
# Activations beside PyTorch: seed 001's MNIST net (mnist-cnn) and recipe (examples/mnist.toml:
# Adam 1e-3, batch 64, 3 epochs) with model.activation set to each parameter-free activation,
# beside bench/pytorch_epoch.py --activation (the same nn.Module in place of the seed's F.relu),
# seeds 0 and 1. Prints each run's final line; the table is in bench/RESULTS.md.
#   bash bench/activations.sh            (from the repository root, after cargo build --release)
set -euo pipefail
B=target/release/convlab
D=${DATA:-../shared/datasets}
OUT=$(mktemp -d)
for a in ${ACTS:-sigmoid tanh relu elu selu gelu silu mish}; do
  for s in 0 1; do
    $B train examples/mnist.toml --data-dir "$D" --runs-dir "$OUT/runs" --set name=act-$a-s$s \
      --set seed=$s --set model.activation=$a --quiet 2>&1 | tail -1 | sed "s/^/convlab $a seed $s: /"
    python3 bench/pytorch_epoch.py --dataset mnist --model mnist-cnn --batch 64 --lr 1e-3 --epochs 3 \
      --seed $s --data-dir "$D" --activation $a | tail -1 | sed "s/^/pytorch $a seed $s: /"
  done
done
rm -rf "$OUT"
