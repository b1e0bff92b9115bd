#!/usr/bin/env bash
# convlab beside PyTorch on the seed notebooks' nets, interleaved (convlab, PyTorch, convlab,
# ...) REPEATS times each so both see the same machine noise. Prints one Markdown table,
# median (min-max) over the repeats; ratio = convlab / PyTorch speed (> 1: convlab faster).
#
#   bash bench/compare.sh                         # MODE=steps: training steps on synthetic data
#   MODE=epoch bash bench/compare.sh              # one epoch on the real data, evaluation included
#   CASES="bn-prelu-cnn:32 resnet18:128:10" REPEATS=5 bash bench/compare.sh   # net:batch[:steps]
#   DEVICE=cuda CASES="resnet18:512 bn-prelu-cnn:512" bash bench/compare.sh
#   DEVICE=cuda DTYPES="f32 bf16" COMPILE=1 bash bench/compare.sh   # both precisions, + torch.compile
#   OPTIMIZERS="sgd sgd-momentum adam" CASES="vgg-blocks:16" bash bench/compare.sh   # a row each
#   BEFORE=/tmp/convlab-old bash bench/compare.sh   # + another convlab binary, same interleaving
#   MODE=epoch ACCUMULATE=4 CASES="resnet18:64" bash bench/compare.sh   # a step per 4 batches, both sides
#   CASES="bench/nets/strided-cnn.toml:128 bench/nets/lenet5.toml:64" bash bench/compare.sh   # your own nets
#
# A case may name a run config (.toml) in place of a preset: its net (model.layers or its
#   preset) on its dataset's input, beside the same layers in PyTorch (the nn.Sequential code
#   `convlab export --format pytorch` writes; made here from a 64-image run of the config).
#   Steps mode: `convlab bench --config` against bench/pytorch.py --net-py. Epoch mode: the
#   config's own run for one epoch at the case's batch, against bench/pytorch_epoch.py on the
#   config's dataset with Adam at the config's lr and no augmentation (so give the config
#   those).
#
# MODE=steps: `convlab bench` vs bench/pytorch.py: forward, backward and optimizer step (Adam unless OPTIMIZERS) on batches
#   already in memory, STEPS timed steps (or the case's own) after WARMUP warm-up steps
#   (images/s). DTYPES: f32 and/or bf16 (convlab's train.precision = "bf16" against
#   PyTorch's autocast to bfloat16), each a row. COMPILE=1: also PyTorch with torch.compile
#   (its compilation inside the warm-up), a column of its own. OPTIMIZERS: the optimizers
#   stepped on both sides, a row each (default adam; sgd, sgd-momentum, adamw, adagrad,
#   rmsprop, adadelta, adamax, nadam, radam, with PyTorch's defaults). BEFORE: a second convlab binary (another commit, built
#   with `--optimizer`) timed in the same interleaving, columns of its own.
# MODE=epoch: `convlab train --set train.epochs=1` vs bench/pytorch_epoch.py (the same net,
#   Adam, batch, 10% validation split, normalization; PyTorch indexes batches out of tensors
#   already in memory, which beat its DataLoader here): seconds for the training pass plus the
#   val and test evaluation (convlab's timing.csv; the script's own clock), and the peak
#   resident memory of each process (GNU time's %M, data loading included). vgg-blocks,
#   resnet18, vgg11 and vgg16 train on LIMIT_TRAIN images and test on LIMIT_TEST (a full epoch is 10-30 min
#   per side on 2 cores); the other nets run the full 45,000/5,000/10,000 (MNIST 54,000).
#   ACCUMULATE=N: one optimizer step per N batches on both sides (train.accumulate_grad_batches;
#   the script's --accumulate); the batch column reads "batch x N".
set -euo pipefail
shopt -s inherit_errexit  # a failure inside $(...) stops the script too
cd "$(dirname "$0")/.."
mode=${MODE:-steps}
device=${DEVICE:-cpu}
cases=${CASES:-"mnist-cnn:64 cifar-cnn:64 vgg-blocks:16 bn-prelu-cnn:32 resnet18:128:10"}
repeats=${REPEATS:-3}
dtypes=${DTYPES:-f32}
compile=${COMPILE:-0}
optimizers=${OPTIMIZERS:-adam}
before=${BEFORE:-}
accumulate=${ACCUMULATE:-1}
if [ "$accumulate" != 1 ] && [ "$mode" != epoch ]; then
  echo "compare.sh: ACCUMULATE is for MODE=epoch" >&2
  exit 2
fi
if [ "$mode" = epoch ] && [ "$optimizers" != adam ]; then
  echo "compare.sh: MODE=epoch trains with Adam (the configs' optimizer); OPTIMIZERS is for MODE=steps" >&2
  exit 2
fi
steps=${STEPS:-100}
warmup=${WARMUP:-3}
limit_train=${LIMIT_TRAIN:-2000}
limit_test=${LIMIT_TEST:-1000}
data=${CONVLAB_DATA:-../shared/datasets}
bin=${CONVLAB:-target/release/convlab}
python=${PYTHON:-python3}
[ -x "$bin" ] || cargo build --release
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
json() { "$python" -c "import json,sys; print(json.loads(sys.argv[1].splitlines()[-1])[sys.argv[2]])" "$1" "$2"; }

# A config case's PyTorch net: the .py beside a 64-image one-epoch run's export (made once).
net_py() { # config -> path of its make_net() code
  local out="$tmp/$(basename "$1" .toml)"
  if [ ! -f "$out.py" ]; then
    "$bin" train "$1" --data-dir "$data" --run-dir "$out.run" --quiet --set train.epochs=1 \
      --set data.limit_train=64 --set data.limit_test=64 > /dev/null
    "$bin" export --format pytorch "$out.run/last.ckpt" -o "$out.pth" > /dev/null
  fi
  echo "$out.py"
}

# The flags that name a case's net: a preset, or a config and its PyTorch twin.
net_flags() { # model -> sets convlab_net and torch_net (arrays)
  if [[ $1 == *.toml ]]; then
    convlab_net=(--config "$1" --data-dir "$data")
    local input
    input=$("$bin" summary "$1" --data-dir "$data" | sed -n '1s/.*, input \([0-9x]*\),.*/\1/p')
    torch_net=(--model "$(basename "$1" .toml)" --net-py "$(net_py "$1")" --input "$input")
  else
    convlab_net=(--model "$1")
    torch_net=(--model "$1")
  fi
}

steps_case() { # model batch [steps] -> "convlab_img_s pytorch_img_s pytorch_compiled_img_s before_img_s"
  local c p pc=nan b=nan n=${3:-$steps}
  net_flags "$1"
  c=$("$bin" bench --device "$device" "${convlab_net[@]}" --batch "$2" --steps "$n" --warmup "$warmup" --dtype "$dtype" --optimizer "$optimizer" --json)
  p=$("$python" bench/pytorch.py --device "$device" "${torch_net[@]}" --batch "$2" --steps "$n" --warmup "$warmup" --dtype "$dtype" --optimizer "$optimizer")
  if [ "$compile" = 1 ]; then
    pc=$("$python" bench/pytorch.py --device "$device" "${torch_net[@]}" --batch "$2" --steps "$n" --warmup "$warmup" \
      --dtype "$dtype" --optimizer "$optimizer" --compile 2>/dev/null) && pc=$(json "$pc" train_images_per_s) || pc=nan
  fi
  if [ -n "$before" ]; then
    b=$("$before" bench --device "$device" "${convlab_net[@]}" --batch "$2" --steps "$n" --warmup "$warmup" \
      --dtype "$dtype" --optimizer "$optimizer" --json) && b=$(json "$b" train_images_per_s)
  fi
  echo "$(json "$c" train_images_per_s) $(json "$p" train_images_per_s) $pc $b"
}

epoch_case() { # model batch -> "convlab_s pytorch_s convlab_MB pytorch_MB convlab_acc pytorch_acc"
  local model=$1 batch=$2 ds=cifar10 cfg=examples/cifar10-bn-prelu.toml lr=1e-3 lim=() plim=() net=() pnet=()
  [ "$model" = mnist-cnn ] && ds=mnist && cfg=examples/mnist.toml
  [ "$model" = bn-prelu-cnn ] && lr=2e-3
  if [[ $model == *.toml ]]; then
    cfg=$model
    ds=$("$python" -c "import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb'))['data']['dataset'])" "$cfg")
    lr=$("$python" -c "import sys, tomllib; print(tomllib.load(open(sys.argv[1], 'rb')).get('optimizer', {}).get('lr', 1e-3))" "$cfg")
    pnet=(--net-py "$(net_py "$cfg")")
    model=$(basename "$cfg" .toml)
  else
    net=(--set "model.preset=$model")
  fi
  if [ "$model" = vgg-blocks ] || [ "$model" = resnet18 ] || [ "$model" = vgg11 ] || [ "$model" = vgg16 ]; then
    lim=(--set "data.limit_train=$limit_train" --set "data.limit_test=$limit_test")
    plim=(--limit-train "$limit_train" --limit-test "$limit_test")
  fi
  local dir="$tmp/run-$RANDOM$RANDOM"
  /usr/bin/time -f %M -o "$tmp/c.rss" "$bin" train "$cfg" --data-dir "$data" --device "$device" \
    --run-dir "$dir" --quiet --set train.epochs=1 "${net[@]}" \
    --set "train.batch_size=$batch" --set "train.accumulate_grad_batches=$accumulate" --set "optimizer.lr=$lr" --set "train.precision=\"${dtype/f32/fp32}\"" \
    "${lim[@]}" > /dev/null
  local cs cacc p
  cs=$("$python" -c "import csv; print(list(csv.DictReader(open('$dir/timing.csv')))[0]['seconds'])")
  cacc=$(json "$(cat "$dir/summary.json" | tr -d '\n')" test_acc)
  p=$(/usr/bin/time -f %M -o "$tmp/p.rss" "$python" bench/pytorch_epoch.py --dataset "$ds" \
    --model "$model" "${pnet[@]}" --batch "$batch" --accumulate "$accumulate" --lr "$lr" --data-dir "$data" --device "$device" --dtype "$dtype" "${plim[@]}")
  echo "$cs $(json "$p" seconds) $(($(cat "$tmp/c.rss") / 1024)) $(($(cat "$tmp/p.rss") / 1024)) $cacc $(json "$p" test_acc)"
}

for dtype in $dtypes; do
  for case in $cases; do
    IFS=: read -r model batch case_steps <<< "$case"
    for _ in $(seq "$repeats"); do
      for optimizer in $optimizers; do
        label=$batch; [ "$accumulate" = 1 ] || label="${batch}x$accumulate"
        # Assigned first, so that a side that fails stops the script here (with its error)
        # rather than leaving a broken row.
        row=$("${mode}_case" "$model" "$batch" $case_steps)
        echo "$model $label $dtype $optimizer $row" >> "$tmp/rows"
      done
    done
  done
done

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $(date -u +%F)"
echo "$("$bin" --version), torch $("$python" -c 'import torch; print(torch.__version__, "threads", torch.get_num_threads())'); MODE=$mode DEVICE=$device REPEATS=$repeats DTYPES=\"$dtypes\" COMPILE=$compile OPTIMIZERS=\"$optimizers\" ACCUMULATE=$accumulate${before:+ BEFORE=$before ($("$before" --version))}"
echo
"$python" - "$tmp/rows" "$device" "$mode" "$limit_train" "$limit_test" "$compile" "$before" <<'PY'
import math, sys, statistics as st
path, device, mode, lt, ls, compiled, before = sys.argv[1:]
rows = {}
for line in open(path):
    m, b, dt, opt, *v = line.split()
    rows.setdefault((m, b.replace("x", " x "), dt, opt), []).append([float(x) for x in v])
f = lambda xs, d=0: f"{st.median(xs):.{d}f} ({min(xs):.{d}f}–{max(xs):.{d}f})"
if mode == "steps":
    extra = compiled == "1"
    print("| net | batch | device | dtype | optimizer | convlab img/s | PyTorch img/s | convlab / PyTorch |"
          + (" PyTorch compiled img/s | convlab / compiled |" if extra else "")
          + (" before img/s | convlab / before |" if before else ""))
    print("|---|---:|---|---|---|---:|---:|---:|" + ("---:|---:|" if extra else "") + ("---:|---:|" if before else ""))
    for (m, b, dt, opt), v in rows.items():
        c, p, pc = [x[0] for x in v], [x[1] for x in v], [x[2] for x in v if not math.isnan(x[2])]
        row = f"| {m} | {b} | {device} | {dt} | {opt} | {f(c)} | {f(p)} | {f([x / y for x, y in zip(c, p)], 2)} |"
        if extra:
            row += f" {f(pc)} | {f([st.median(c) / y for y in pc], 2)} |" if pc else " did not run | – |"
        if before:
            bb = [x[3] for x in v]
            row += f" {f(bb)} | {f([x / y for x, y in zip(c, bb)], 2)} |"
        print(row)
else:
    print("| net | batch | dtype | images (train/test) | convlab s/epoch | PyTorch s/epoch | PyTorch s / convlab s | convlab peak MB | PyTorch peak MB | test acc convlab / PyTorch |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---|")
    for (m, b, dt, _), v in rows.items():
        c, p = [x[0] for x in v], [x[1] for x in v]
        imgs = f"{lt}/{ls}" if m in ("vgg-blocks", "resnet18", "vgg11", "vgg16") else "all"
        acc = f"{st.median(x[4] for x in v) * 100:.2f} / {st.median(x[5] for x in v) * 100:.2f}"
        print(f"| {m} | {b} | {dt} | {imgs} | {f(c, 1)} | {f(p, 1)} | {f([y / x for x, y in zip(c, p)], 2)} "
              f"| {f([x[2] for x in v])} | {f([x[3] for x in v])} | {acc} |")
print(f"\n{len(next(iter(rows.values())))} interleaved repeats each; median (min–max).")
PY
