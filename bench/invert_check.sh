#!/usr/bin/env bash
# predict --invert on test images given as negatives (dark on light, as a user draws a digit
# or photographs an item on white): how many of the first N are read right as they are, as
# negatives, and as negatives with --invert, and how many predict's warning flags. Trains
# the dataset's example config for one epoch first.
#   bash bench/invert_check.sh                          (MNIST, N=1000; ~1 min on 2 cores)
#   DATASET=fashion-mnist bash bench/invert_check.sh    (from /usr/share/datasets)
set -euo pipefail
N=${N:-1000}
DATASET=${DATASET:-mnist}
BIN=${BIN:-target/release/convlab}
case $DATASET in
    mnist) DATA=${DATA:-../shared/datasets}; IDX=$DATA/mnist; CONFIG=examples/mnist.toml ;;
    fashion-mnist) DATA=${DATA:-/usr/share/datasets}; IDX=$DATA/fashion-mnist; CONFIG=examples/fashion-mnist.toml ;;
    *) echo "DATASET: mnist or fashion-mnist" >&2; exit 2 ;;
esac
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$BIN" train "$CONFIG" --set train.epochs=1 --set name=invert-check \
    --runs-dir "$WORK/runs" --data-dir "$DATA" --quiet
python3 - "$IDX" "$WORK/images" "$N" <<'PY'
import gzip, os, sys
from PIL import Image
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
images = gzip.open(f"{src}/t10k-images-idx3-ubyte.gz").read()[16:]
labels = gzip.open(f"{src}/t10k-labels-idx1-ubyte.gz").read()[8:]
for kind in ("pos", "neg"):
    os.makedirs(f"{out}/{kind}", exist_ok=True)
for i in range(n):
    px = images[i * 784:(i + 1) * 784]
    Image.frombytes("L", (28, 28), px).save(f"{out}/pos/{i:05d}-{labels[i]}.png")
    Image.frombytes("L", (28, 28), bytes(255 - v for v in px)).save(f"{out}/neg/{i:05d}-{labels[i]}.png")
PY
for run in "pos" "neg" "neg --invert"; do
    set -- $run
    # --json: class names may hold spaces ("Ankle boot"); the label is the class's index.
    "$BIN" predict --checkpoint "$WORK/runs/invert-check" -k 1 --json ${2:-} "$WORK/images/$1" \
        2>"$WORK/err" >"$WORK/out.json" || true
    right=$(python3 - "$WORK/out.json" "$WORK/runs/invert-check/best.ckpt" <<'PY'
import json, re, sys
rows = json.load(open(sys.argv[1]))
header = open(sys.argv[2], "rb").read(4096)
classes = json.loads(re.search(rb'"classes":(\[[^\]]*\])', header).group(1))
right = sum(classes.index(r["top"][0]["class"]) == int(r["file"].rsplit("-", 1)[1][:-4]) for r in rows)
print(f"{right} of {len(rows)} right")
PY
)
    flagged=$(grep -o '^warning: [0-9]* of' "$WORK/err" | grep -o '[0-9]*' | head -1 || true)
    echo "$DATASET $run: $right; warning flags ${flagged:-0}"
done
