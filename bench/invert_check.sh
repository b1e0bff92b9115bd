#!/usr/bin/env bash
# predict --invert on MNIST test digits drawn as negatives (dark on white, as a user draws
# one): how many of the first N are read right with and without --invert, and how many the
# warning flags. Trains examples/mnist.toml for one epoch first.
#   bash bench/invert_check.sh            (N=200; ~1 min on 2 cores)
set -euo pipefail
N=${N:-200}
DATA=${DATA:-../shared/datasets}
BIN=${BIN:-target/release/convlab}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$BIN" train examples/mnist.toml --set train.epochs=1 --set name=invert-check \
    --runs-dir "$WORK/runs" --data-dir "$DATA" --quiet
python3 - "$DATA/mnist" "$WORK/digits" "$N" <<'PY'
import gzip, os, sys
from PIL import Image
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
images = gzip.open(f"{src}/t10k-images-idx3-ubyte.gz").read()[16:]
labels = gzip.open(f"{src}/t10k-labels-idx1-ubyte.gz").read()[8:]
for kind in ("pos", "neg"):
    os.makedirs(f"{out}/{kind}", exist_ok=True)
for i in range(n):
    px = images[i * 784:(i + 1) * 784]
    img = Image.frombytes("L", (28, 28), px)
    img.save(f"{out}/pos/{i:04d}-{labels[i]}.png")
    Image.frombytes("L", (28, 28), bytes(255 - v for v in px)).save(f"{out}/neg/{i:04d}-{labels[i]}.png")
PY
score() { # files' "NNNN-L.png: C (p)" lines: how many have C == L
    awk -F'[-.: ]+' '{ total++; if ($2 == $4) right++ } END { printf "%d of %d right", right, total }'
}
for run in "pos" "neg" "neg --invert"; do
    set -- $run
    warn=$("$BIN" predict --checkpoint "$WORK/runs/invert-check" -k 1 ${2:-} "$WORK/digits/$1" \
        2>"$WORK/err" | sed 's|.*/||' | score)
    flagged=$(grep -o '^warning: [0-9]* of' "$WORK/err" | grep -o '[0-9]*' | head -1 || true)
    echo "$run: $warn; warning flags ${flagged:-0}"
done
