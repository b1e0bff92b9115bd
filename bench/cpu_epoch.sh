#!/usr/bin/env bash
# Seconds per training epoch (train + val + test evaluation) of `convlab train` next to
# PyTorch for the same net, batch, optimizer and split, on this machine, interleaved so
# both see the same noise. Prints a Markdown table: median [min-max] over REPEATS runs.
#
#   bash bench/cpu_epoch.sh [REPEATS]            # needs: pip install torch torchvision numpy
#   NDARRAY=1 bash bench/cpu_epoch.sh 1          # also Burn's ndarray backend (builds it)
set -euo pipefail
cd "$(dirname "$0")/.."
REPEATS=${1:-3}
DATA=${CONVLAB_DATA:-../shared/datasets}
cargo build --release -q
BIN=target/release/convlab
if [ "${NDARRAY:-0}" = 1 ]; then
  cargo build --release -q --features ndarray --target-dir target/ndarray
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

convlab_epoch() { # bin config device extra-args...
  local bin=$1 cfg=$2 dev=$3; shift 3
  local dir="$TMP/run-$RANDOM$RANDOM"
  "$bin" train "$cfg" --data-dir "$DATA" --device "$dev" --run-dir "$dir" --quiet --set train.epochs=1 "$@" >/dev/null
  python3 -c "import csv,json,sys; t=list(csv.DictReader(open('$dir/timing.csv')))[0]['seconds']; s=json.load(open('$dir/summary.json')); print(t, s['test_acc'])"
}
pytorch_epoch() { # dataset model batch lr
  python3 bench/pytorch_epoch.py --dataset "$1" --model "$2" --batch "$3" --lr "$4" --data-dir "$DATA" \
    | python3 -c "import json,sys; r=json.loads(sys.stdin.readline()); print(r['seconds'], r['test_acc'])"
}
stats() { python3 -c "import sys,statistics as s; v=[float(x) for x in sys.argv[1:]]; print(f'{s.median(v):.1f} [{min(v):.1f}-{max(v):.1f}]')" "$@"; }
median() { python3 -c "import sys,statistics as s; print(s.median(float(x) for x in sys.argv[1:]))" "$@"; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%F)"
echo "convlab $($BIN --version | cut -d' ' -f2) on Burn 0.22.1 (flex); torch $(python3 -c 'import torch; print(torch.__version__, "threads", torch.get_num_threads())')"
echo
echo "| dataset | model | batch | convlab s/epoch | PyTorch s/epoch | PyTorch/convlab (>1: convlab faster) | convlab test acc | PyTorch test acc |"
echo "|---|---|---|---|---|---|---|---|"
for case in "mnist examples/mnist.toml mnist-cnn 64 1e-3" "cifar10 examples/cifar10-bn-prelu.toml bn-prelu-cnn 32 2e-3"; do
  set -- $case
  ds=$1 cfg=$2 model=$3 bs=$4 lr=$5
  c=(); p=(); ca=(); pa=()
  for r in $(seq "$REPEATS"); do
    read -r s a < <(convlab_epoch "$BIN" "$cfg" cpu); c+=("$s"); ca+=("$a")
    read -r s a < <(pytorch_epoch "$ds" "$model" "$bs" "$lr"); p+=("$s"); pa+=("$a")
  done
  ratio=$(python3 -c "print(f'{$(median "${p[@]}")/$(median "${c[@]}"):.2f}')")
  echo "| $ds | $model | $bs | $(stats "${c[@]}") | $(stats "${p[@]}") | $ratio | $(median "${ca[@]}") | $(median "${pa[@]}") |"
done

if [ "${NDARRAY:-0}" = 1 ]; then
  echo
  echo "Burn CPU backends, one epoch over 5,000 training images (same config otherwise):"
  echo
  echo "| dataset | model | flex s | ndarray s | ndarray/flex |"
  echo "|---|---|---|---|---|"
  for case in "examples/mnist.toml mnist mnist-cnn" "examples/cifar10-bn-prelu.toml cifar10 bn-prelu-cnn"; do
    set -- $case
    read -r f _ < <(convlab_epoch "$BIN" "$1" cpu --set data.limit_train=5000 --set data.limit_test=2000)
    read -r n _ < <(convlab_epoch target/ndarray/release/convlab "$1" ndarray --set data.limit_train=5000 --set data.limit_test=2000)
    echo "| $2 | $3 | $f | $n | $(python3 -c "print(f'{$n/$f:.1f}')") |"
  done
fi
