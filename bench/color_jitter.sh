#!/bin/bash
# Colour jitter beside PyTorch: cifar-cnn, batch 64, Adam 1e-3, 5 epochs on the CIFAR-10 JPEG
# copy, data.brightness/contrast/saturation/hue = 0.4/0.4/0.4/0.1 (torchvision's
# ColorJitter(0.4, 0.4, 0.4, 0.1) after the crop and flip in bench/pytorch_epoch.py) on and off,
# seeds 0 and 1. Prints each run's final line; the table is in bench/RESULTS.md.
#   bash bench/color_jitter.sh            (from the repository root, after cargo build --release)
set -euo pipefail
B=target/release/convlab
D=${DATA:-../shared/datasets}
OUT=$(mktemp -d)
cat > "$OUT/cj.toml" <<'T'
[data]
dataset = "cifar10"
[model]
preset = "cifar-cnn"
[train]
epochs = 5
batch_size = 64
T
J="--set data.brightness=0.4 --set data.contrast=0.4 --set data.saturation=0.4 --set data.hue=0.1"
for s in 0 1; do
  for v in on off; do
    X=""; P=""
    if [ "$v" = on ]; then X="$J"; P="--color-jitter 0.4 0.4 0.4 0.1"; fi
    # shellcheck disable=SC2086
    $B train "$OUT/cj.toml" --data-dir "$D" --runs-dir "$OUT/runs" --set name=cj-$v-s$s --set seed=$s $X --quiet 2>&1 \
      | tail -1 | sed "s/^/convlab jitter $v seed $s: /"
    # shellcheck disable=SC2086
    python3 bench/pytorch_epoch.py --dataset cifar10 --model cifar-cnn --batch 64 --lr 1e-3 --epochs 5 \
      --seed $s --data-dir "$D" $P | tail -1 | sed "s/^/pytorch jitter $v seed $s: /"
  done
done
rm -rf "$OUT"
