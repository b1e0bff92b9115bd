#!/usr/bin/env bash
# One GPU session's device calls (bench/README.md "GPU"), each a single command that fits the
# device tool's 10 minutes, stops its steps before that (BUDGET seconds, default 570) and
# brings everything back in $OUT: summary.txt (also printed) and logs.tar.gz (logs, run
# folders' small files, the CUDA-made fixture).
#
#   bash bench/gpu_session.sh call0    # THE FIRST CALL of a 15-minute session (below): check, fast recipe, twin, A/B
#   bash bench/gpu_session.sh call1    # CUDA-made fixture, PyTorch twin 6 runs, fast recipe 6 runs
#   bash bench/gpu_session.sh call2    # training steps, convlab beside PyTorch: fp32, then bf16
#   bash bench/gpu_session.sh call3    # the seed studies at full length, JOBS trials at once (not run yet)
#   bash bench/gpu_session.sh call4    # batch-norm kernels on, torch.compile (not run yet)
#   bash bench/gpu_session.sh call5    # the fast recipe with CubeCL's on-disk kernel cache (not run yet)
#   bash bench/gpu_session.sh call6    # the rows with the NVRTC-compiled binary (not run yet)
#   bash bench/gpu_session.sh call7    # convlab's CubeCL kernels' tests, on the GPU (not run yet)
#
# Since 2026-12 a GPU session has 15 minutes of device time in all (a machine's start included),
# so one ~9-minute call: call0, with carry [".device-bin", ".device-data"]. The others are the
# 30-minute plan of 2026-11-25, kept for a session lent more.
# carry: [".device-bin", ".device-data"] (call2, call4: ".device-bin"; call6: ".device-bin-nvrtc";
# call7: ".device-bin-test", the test binary of tests/cube_kernels.rs built with `--features cuda`); .device-data holds
# cifar10/cifar10-jpeg.tar.gz copied from ../shared/datasets (the ../shared beside a checkout
# does not travel). Env: FAST_ENV (e.g. CONVLAB_CUBE_BATCH_NORM=cube) for call1's convlab runs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-out}
W=/tmp/gpu-work
rm -rf "$W"
mkdir -p "$OUT" "$W/logs" "$W/keep"
export CONVLAB_DATA=${CONVLAB_DATA:-.device-data} PYTHONUNBUFFERED=1
B=/tmp/convlab
DEV=${DEV:-cuda}  # DEV=cpu tries the flow on a machine without a GPU
t_start=$SECONDS
budget=${BUDGET:-$([ "${1:-}" = call0 ] && echo 540 || echo 570)}
finish() {
  tar -czf "$OUT/logs.tar.gz" -C "$W" logs keep 2>/dev/null
  cp "$W/summary.txt" "$OUT/summary.txt" 2>/dev/null
  echo "=== summary"; cat "$W/summary.txt"
}
trap finish EXIT
say() { echo "$*" | tee -a "$W/summary.txt"; }
left() { echo $((budget - (SECONDS - t_start))); }
# step NAME LIMIT CMD...: CMD under timeout min(LIMIT, time left), output in logs/NAME.log
step() {
  local name=$1 lim=$2 l t0 rc
  shift 2
  l=$(($(left) - 5))
  [ "$l" -lt "$lim" ] && lim=$l
  if [ "$lim" -le 5 ]; then say "SKIP $name (no time left)"; return 99; fi
  t0=$SECONDS
  timeout "$lim" "$@" > "$W/logs/$name.log" 2>&1
  rc=$?
  say "$name rc=$rc wall=$((SECONDS - t0))s"
  [ $rc = 0 ] || tail -5 "$W/logs/$name.log" | sed 's/^/    /' | tee -a "$W/summary.txt"
  return $rc
}
unpack() { # $1: folder holding convlab.xz
  python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]+'/convlab.xz'), open('$B','wb'))" "$1" \
    && chmod +x $B
}
header() {
  say "$(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,temperature.gpu --format=csv,noheader)"
  say "$($B --version) | torch $(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)') | $(nproc) cores"
}
run_summary() { # NAME RUNDIR: one line from summary.json + the no-TTA test accuracy
  python3 - "$1" "$2" <<'PY' | tee -a "$W/summary.txt"
import csv, json, sys
name, d = sys.argv[1:]
s = json.load(open(d + "/summary.json"))
rows = list(csv.DictReader(open(d + "/metrics.csv")))
extra = {k: v for k, v in rows[-1].items() if "test" in k}
print(f"{name}: test_acc={s['test_acc']:.4f} seconds={s['seconds']:.2f} status={s['status']} last-row={extra}")
PY
}
keep_run() { # RUNDIR NAME: the run's small files into keep/NAME
  mkdir -p "$W/keep/$2" && cp "$1"/{summary.json,metrics.csv,timing.csv,run.json,config.toml} "$W/keep/$2/" 2>/dev/null
}

fast_runs() { # FIRST LAST: convlab's fast recipe, seeds FIRST..LAST, with env ${fenv[@]} and ${fargs[@]}
  local s
  for s in $(seq "$1" "$2"); do
    rm -rf "$W/fast-$s"
    step "fast-$s" 240 env "${fenv[@]}" $B train examples/cifar10-fast.toml --data-dir "$CONVLAB_DATA" \
      --device "$DEV" --set seed=$s --run-dir "$W/fast-$s" --quiet "${fargs[@]}" || return $?
    run_summary "fast-$s" "$W/fast-$s"
    keep_run "$W/fast-$s" "fast-$s"
  done
}
fenv=(${FAST_ENV:-})
fargs=()

# The one call of a 15-minute session (BUDGET 540 s), most telling first:
# 1. `convlab check`: one training step of the fast recipe's net (batch 1,024) and three presets
#    on the GPU against the CPU, every gradient compared, plus convlab's batch-norm kernels alone
#    at 256/32/1 units per cube; then the recipe's net again with the kernels in it. Says whether the
#    kernels that diverged compute wrong numbers there, and where; if they do, the same check
#    under compute-sanitizer (racecheck, memcheck; up to 150 s).
# 2. the fast recipe 3 times: cold, then warm with CubeCL's kernel cache (on by default since
#    2026-12, src/train/kernel_cache.rs): do epochs 1 and 10 drop from ~25 s to near 1.8 s?
# 3. the PyTorch twin, 3 runs in one process, for the ratio in the same call.
# 4. if time is left: the fast recipe with the kernels on, and bn-prelu-cnn / resnet18 b512
#    training steps with the kernels off and on beside PyTorch.
call0() {
  unpack "${BIN_DIR:-.device-bin}" || { say "unpack failed"; return; }
  header
  step check 150 $B check --device "$DEV"
  grep -E 'OFF|NOT FINITE|panicked|tensors' "$W/logs/check.log" | head -20 | tee -a "$W/summary.txt"
  step check-cube 120 env CONVLAB_CUBE_BATCH_NORM=cube $B check --device "$DEV" --net cifar10-fast
  local cube_rc=$?
  grep -E 'OFF|NOT FINITE|panicked|tensors' "$W/logs/check-cube.log" | head -20 | tee -a "$W/summary.txt"
  [ $cube_rc = 0 ] || sanitize
  cp "$W"/logs/check*.log "$W/keep/" 2>/dev/null
  fast_runs 0 2
  local s
  for s in 0 1 2; do say "fast-$s timing: $(cat "$W/keep/fast-$s/timing.csv" 2>/dev/null | tr '\n' ' ')"; done
  step pytorch-fast 90 python3 bench/pytorch_fast.py --device "$DEV" --runs 3 --data-dir "$CONVLAB_DATA"
  grep -s '^{' "$W/logs/pytorch-fast.log" | tee -a "$W/summary.txt"
  fenv=(CONVLAB_CUBE_BATCH_NORM=cube)
  fast_runs 10 10
  fenv=()
  rows f32 bn-prelu-cnn:512 resnet18:512
  say "with CONVLAB_CUBE_BATCH_NORM=cube:"
  CONVLAB_CUBE_BATCH_NORM=cube rows f32 bn-prelu-cnn:512 resnet18:512
}

# Only when `convlab check` found the batch-norm kernels wrong: the same check (recipe's net at
# batch 64, kernel rows at the recipe's shapes) under compute-sanitizer, which works on the
# Firecracker GPU machines (/work/.library/device/KINDS.md): racecheck for a shared-memory
# hazard in the partial sums' tree, memcheck for an access outside a buffer.
sanitize() {
  local san tool
  san=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer 2>/dev/null | head -1)
  if [ -z "$san" ]; then say "SKIP sanitize (no compute-sanitizer)"; return; fi
  for tool in racecheck memcheck; do
    step "sanitize-$tool" 75 env CONVLAB_CUBE_BATCH_NORM=cube "$san" --tool $tool --print-limit 20 \
      $B check --device "$DEV" --net cifar10-fast --batch 64
    pkill -f "^$B check" # a timed-out sanitizer's child too
    grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|hazard|Invalid|out of bounds' "$W/logs/sanitize-$tool.log" \
      | head -8 | sed 's/^/    /' | tee -a "$W/summary.txt"
  done
  cp "$W"/logs/sanitize-*.log "$W/keep/" 2>/dev/null
}

# As run on 2026-11-25 (bench/RESULTS.md, "GPU: the first session on one H100"), call1 began
# with a `convlab bench` smoke test (81 s, mostly kernel compilation) and ran the fast recipe
# before the twin; the recipe diverged with convlab's batch-norm kernels (then the default),
# trained with Burn's, and 5 runs filled the call, so the twin ran in the next call. Below,
# the order a next session should use: fixture, twin, then convlab's runs.
call1() {
  unpack "${BIN_DIR:-.device-bin}" || { say "unpack failed"; return; }
  header
  # the CUDA-made checkpoint for tests/cuda_checkpoint.rs: trained here, predicted here on CUDA
  local fx="$W/keep/tiny-cuda" rc
  step fixture-train 150 $B train tests/fixtures/cuda/tiny.toml --data-dir "$CONVLAB_DATA" --device "$DEV" \
    --run-dir "$fx" --quiet
  rm -f "$fx/last.ckpt" "$fx/curves.png"
  step fixture-predict-cuda 60 $B predict --checkpoint "$fx" --device "$DEV" --json --logits tests/fixtures/cuda/img*.png \
    && cp "$W/logs/fixture-predict-cuda.log" "$fx/predict-cuda.json"
  step fixture-predict-cpu 60 $B predict --checkpoint "$fx" --device cpu --json --logits tests/fixtures/cuda/img*.png
  step pytorch-fast 150 python3 bench/pytorch_fast.py --device "$DEV" --runs 6 --data-dir "$CONVLAB_DATA"
  grep -s '^{' "$W/logs/pytorch-fast.log" | tee -a "$W/summary.txt"
  # convlab's fast recipe: run 0 is the cold one (kernel compilation, autotune); if it fails
  # (not a timeout), again with the host data pipeline
  fast_runs 0 5
  rc=$?
  if [ $rc != 0 ] && [ $rc != 124 ] && [ $rc != 99 ]; then
    say "fast recipe failed; retrying with the host data pipeline"
    fargs=(--set 'data.pipeline="host"')
    fast_runs 0 5
  fi
}

# bench/compare.sh runs a fresh convlab process per row and repeat, and each spends 20-120 s
# compiling kernels on the GPU, so its groups did not fit; this is the loop that ran instead
# (one process per row, PyTorch first, rows printed as they come).
rows() { # DTYPE CASE...
  local dt=$1 c m b
  shift
  for c in "$@"; do
    IFS=: read -r m b <<< "$c"
    [ "$(left)" -lt 20 ] && { say "SKIP $c $dt (no time left)"; return; }
    say "P $(timeout "$(($(left) - 5))" python3 bench/pytorch.py --device "$DEV" --model "$m" --batch "$b" \
      --steps 50 --warmup 3 --dtype "$dt" 2>&1 | tail -1)"
    say "C $(timeout "$(($(left) - 5))" $B bench --device "$DEV" --model "$m" --batch "$b" --steps 50 \
      --warmup 3 --dtype "$dt" --json 2>&1 | tail -1)"
  done
}

call2() {
  unpack "${BIN_DIR:-.device-bin}" || { say "unpack failed"; return; }
  header
  rows f32 mnist-cnn:64 cifar-cnn:64 bn-prelu-cnn:32 resnet18:512 bn-prelu-cnn:512 vgg-blocks:512 \
    cifar-cnn:512 mnist-cnn:512 vgg-blocks:16
  rows bf16 mnist-cnn:512 cifar-cnn:512 bn-prelu-cnn:512 resnet18:512
}

study() { # NAME LIMIT JOBS: examples/NAME.toml as a sweep, its report and runs' small files kept
  local name=$1
  step "study-$name" "$2" $B sweep "examples/$name.toml" --data-dir "$CONVLAB_DATA" --device "$DEV" \
    --jobs "$3" --quiet --runs-dir "$W/runs"
  pkill -f "^$B sweep" # a timed-out sweep's trials (child processes) stop too
  timeout 60 $B report "$W/runs/$name" > "$W/logs/report-$name.log" 2>&1
  (cd "$W/runs" && find "$name" \( -name '*.json' -o -name '*.csv' -o -name '*.md' -o -name 'config.toml' \) \
    -print0 | xargs -0 tar -czf "$W/keep/study-$name.tar.gz")
  grep -A 30 -m1 '^|' "$W/runs/$name/report.md" | tee -a "$W/summary.txt"
}

call3() { # point 5: the seed studies at full length, trials side by side on the one GPU
  unpack "${BIN_DIR:-.device-bin}" || { say "unpack failed"; return; }
  header
  study cifar10-optimizers "${T_OPT:-200}" "${JOBS:-8}"
  study cifar10-lr-batch "${T_LRB:-150}" "${JOBS:-8}"
  study cifar10-activations "${T_ACT:-200}" "${JOBS:-8}"
}

call4() { # point 4's A/B rows (not run yet): convlab's batch-norm kernels on, torch.compile
  unpack "${BIN_DIR:-.device-bin}" || { say "unpack failed"; return; }
  header
  say "with CONVLAB_CUBE_BATCH_NORM=cube:"
  CONVLAB_CUBE_BATCH_NORM=cube rows f32 bn-prelu-cnn:512 resnet18:512
  local m
  for m in bn-prelu-cnn resnet18; do
    say "P compiled $(timeout 150 python3 bench/pytorch.py --device "$DEV" --model $m --batch 512 --steps 50 \
      --warmup 3 --compile 2>&1 | tail -1)"
  done
}

call6() { # not run yet: the NVRTC build (carry only .device-bin-nvrtc: both binaries and the tree exceed 64 MiB)
  unpack .device-bin-nvrtc || { say "unpack failed"; return; }
  local inc lib
  inc=$(python3 -c "import glob,site; print(sorted(glob.glob(site.getsitepackages()[0]+'/nvidia/**/include/cuda_fp16.h', recursive=True))[0])")
  lib=$(python3 -c "import glob,site; print(sorted(glob.glob(site.getsitepackages()[0]+'/nvidia/**/libnvrtc.so*', recursive=True))[0])")
  export CUDA_PATH=$(dirname "$(dirname "$inc")") LD_LIBRARY_PATH=$(dirname "$lib"):${LD_LIBRARY_PATH:-}
  header
  say "CUDA_PATH=$CUDA_PATH"
  rows f32 bn-prelu-cnn:512 resnet18:512 vgg-blocks:512 mnist-cnn:64
}

call5() { # not run yet: does CubeCL's on-disk kernel cache take the ~25 s of compilation out of a run?
  # cubecl-runtime 0.11 keeps compiled kernels on disk when its config says
  # `[compilation] cache = true` (a cubecl.toml in the working directory or a parent; off by
  # default). Three fast-recipe runs with it: the first fills the cache, the next two should
  # show epochs 1 and 10 near the 1.8 s of a training epoch if compilation was the cost.
  unpack "${BIN_DIR:-.device-bin}" || { say "unpack failed"; return; }
  header
  printf '[compilation]\ncache = true\n' > cubecl.toml
  fast_runs 0 2
  rm -f cubecl.toml
  local s
  for s in 0 1 2; do say "fast-$s timing: $(tr '\n' ' ' < "$W/keep/fast-$s/timing.csv")"; done
}

call7() { # not run yet: tests/cube_kernels.rs on the GPU, where the batch-norm kernels diverged
  # Built with `--features cuda` alone, those tests run the kernels on the GPU against Burn's
  # layer on flex (CPU): output, dx, dgamma, dbeta and the running statistics, at small shapes
  # and at the fast recipe's (batch 1,024; eps 1e-12). A failure names the tensor and the error.
  local t=/tmp/cube_kernels
  python3 -c "import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2],'wb'))" \
    .device-bin-test/cube_kernels.xz $t && chmod +x $t || { say "unpack failed"; return; }
  say "$(date -u +%FT%TZ) $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader)"
  step kernel-tests 400 env CONVLAB_CUBE_BATCH_NORM=cube $t --test-threads 1 --nocapture
  grep -E '^test |panicked|differs|relative RMS|not finite|test result|: cube ' "$W/logs/kernel-tests.log" \
    | tee -a "$W/summary.txt"
}

"$@"
