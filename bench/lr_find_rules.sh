#!/usr/bin/env bash
# Which of lr-find's three rules gives an lr that trains: for three seed nets x three
# optimizers, `convlab lr-find` (100 steps, 1e-7 to 10), then one training run at each of its
# lrs (fastai's valley = the printed suggestion, Lightning's steepest descent, min-loss / 10).
#   bash bench/lr_find_rules.sh            # ~40 min on 2 cores; table on stdout
#   SEED=1 bash bench/lr_find_rules.sh     # another seed (lr-find's batches and each run)
# mnist-cnn: examples/mnist.toml (3 epochs, batch 64); cifar-cnn b64 and bn-prelu-cnn b32
# on CIFAR-10, 2 epochs each. One seed ($SEED, default 0) per cell: a tool to spot lrs that fail, not a
# ranking of close ones. CONVLAB=path picks the binary; runs go under $OUT (a temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "${CONVLAB:-target/release/convlab}")
data=$(realpath "${CONVLAB_DATA:-../shared/datasets}")
out=${OUT:-$(mktemp -d)}
seed=${SEED:-0}
printf '[data]\ndataset = "cifar10"\n[model]\npreset = "cifar-cnn"\n[train]\nepochs = 2\nbatch_size = 64\nchance_epochs = 0\n' > "$out/cifar-cnn.toml"
printf '[data]\ndataset = "cifar10"\n[model]\npreset = "bn-prelu-cnn"\n[train]\nepochs = 2\nbatch_size = 32\nchance_epochs = 0\n' > "$out/bn-prelu-cnn.toml"
cp examples/mnist.toml "$out/mnist-cnn.toml"
echo "| net | optimizer | rule | lr | test accuracy |"
echo "|---|---|---|---:|---:|"
for net in mnist-cnn cifar-cnn bn-prelu-cnn; do
  for opt in adam sgd-momentum rmsprop; do
    tag=$net-$opt
    "$bin" lr-find "$out/$net.toml" --data-dir "$data" --runs-dir "$out/lr" \
      --set optimizer.name="\"$opt\"" --set name="\"$tag\"" --set seed=$seed > /dev/null
    json=$out/lr/$tag-lr-find/lr_find.json
    for rule in suggested_lr steepest_lr min_loss_lr_over_10; do
      lr=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$json" "$rule")
      acc=$("$bin" train "$out/$net.toml" --data-dir "$data" --runs-dir "$out/train" --quiet \
        --set optimizer.name="\"$opt\"" --set optimizer.lr="$lr" --set name="\"$tag-$rule\"" --set seed=$seed 2>&1 \
        | grep -o 'test accuracy [0-9.]*%' | cut -d' ' -f3 || true)
      printf '| %s | %s | %s | %.2e | %s |\n' "$net" "$opt" "$rule" "$lr" "${acc:-diverged}"
    done
  done
done
