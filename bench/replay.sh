#!/usr/bin/env bash
# The PyTorch twin (bench/pytorch_fast.py) trained on a convlab run's exact batches (order,
# shifts, flips) from that run's exact starting net, for one seed of examples/cifar10-fast.toml:
# what is left to differ between the two sides is their arithmetic. Compare the twin's epoch
# lines (stderr) with the metrics.csv of
#   convlab train examples/cifar10-fast.toml --set seed=SEED
#
#   bash bench/replay.sh 2          # all 10 epochs and the TTA test (~47 min on 2 CPU cores)
#   bash bench/replay.sh 2 1        # stop after epoch 1 of the full schedule
#   DEVICE=cuda CONVLAB=/tmp/convlab DRAWS=draws-s2.bin bash bench/replay.sh 2    # GPU machine
#
# Makes, in $REPLAY_DIR (default /tmp/replay-sSEED): draws.bin (bench/draws.rs), run/ (the
# recipe at lr 1e-30 for one epoch, i.e. convlab's starting net; lookahead stays on as in the
# recipe, since it decides when Burn draws the parameters it initializes lazily), start.pth
# (that net exported, batch norm put back to its initial state), final.pth (the twin's trained
# net, to set beside convlab's: `convlab export --format pytorch`). PIXELS: convlab's decoded
# CIFAR-10 cache (default: the newest ~/.cache/convlab/cifar10-*.bin), so both sides train on
# the same pixels. DRAWS: a draws file made beforehand (where there is no cargo: the device
# machine), e.g. `cargo run --release --example draws -- --seed 2 --epochs 10 --out draws-s2.bin`.
# DEVICE picks both sides' device; the starting net is drawn there, as the run it replays was.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=$1 stop=${2:-0}
out=${REPLAY_DIR:-/tmp/replay-s$seed}
bin=${CONVLAB:-target/release/convlab}
data=${CONVLAB_DATA:-../shared/datasets}
mkdir -p "$out"
draws=${DRAWS:-$out/draws.bin}
[ -n "${DRAWS:-}" ] || cargo run --release --quiet --example draws -- --seed "$seed" --epochs 10 --out "$draws"
rm -rf "$out/run"
"$bin" train examples/cifar10-fast.toml --data-dir "$data" --device "${DEVICE:-cpu}" --quiet --run-dir "$out/run" \
  --set seed="$seed" --set train.epochs=1 --set optimizer.lr=1e-30 --set 'schedule.name="constant"' \
  --set train.chance_epochs=0 --set data.limit_test=100
"$bin" export --format pytorch "$out/run/last.ckpt" -o "$out/run.pth" > /dev/null
python3 bench/gap_checks.py unrun "$out/run.pth" --out "$out/start.pth"
pixels=${PIXELS:-$(ls -t ~/.cache/convlab/cifar10-*.bin | head -1)}
python3 bench/pytorch_fast.py --device "${DEVICE:-cpu}" --pixels "$pixels" --seed "$seed" --log-epochs \
  --draws "$draws" --start "$out/start.pth" --stop-after "$stop" --save "$out/final.pth"
