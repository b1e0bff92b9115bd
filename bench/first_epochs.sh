#!/usr/bin/env bash
# The first N epochs of examples/cifar10-fast.toml's full 10-epoch schedule: the run is
# stopped once its metrics.csv has N rows (train.epochs=N would shorten the one-cycle
# schedule instead). For comparing early training curves, e.g. from the PyTorch twin's
# starting weights (bench/gap_checks.py start):
#   bash bench/first_epochs.sh own-s1 1 --set seed=1
#   bash bench/first_epochs.sh ptinit-s1 1 --set seed=1 --set 'model.pretrained="/tmp/start1.ckpt"'
# Prints the run's metrics.csv. CONVLAB=path picks the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 rows=$2
shift 2
"${CONVLAB:-target/release/convlab}" train examples/cifar10-fast.toml --data-dir "${CONVLAB_DATA:-../shared/datasets}" \
  --quiet --set "name=\"$name\"" "$@" &
pid=$!
csv=runs/$name/metrics.csv
while kill -0 "$pid" 2>/dev/null; do
  if [ -f "$csv" ] && [ "$(wc -l < "$csv")" -gt "$rows" ]; then kill "$pid"; break; fi
  sleep 5
done
cat "$csv"
