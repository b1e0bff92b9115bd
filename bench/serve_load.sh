#!/usr/bin/env bash
# Load-test `convlab serve` on loopback with wrk (apt-get install -y wrk): POST one image
# to /predict from C connections for D seconds, with dynamic batching on (--max-batch 64)
# and off (--max-batch 1), and print requests/s and latency percentiles.
#   bench/serve_load.sh CHECKPOINT IMAGE.png [CONNECTIONS=32] [SECONDS=10]
# wrk and the server share this machine's cores, so the figures are a floor.
set -euo pipefail
ckpt=${1:?usage: bench/serve_load.sh CHECKPOINT IMAGE.png [CONNECTIONS] [SECONDS]}
image=${2:?usage: bench/serve_load.sh CHECKPOINT IMAGE.png [CONNECTIONS] [SECONDS]}
conns=${3:-32}
secs=${4:-10}
bin=${CONVLAB:-target/release/convlab}
lua=$(mktemp --suffix .lua)
log=$(mktemp)
trap 'rm -f "$lua" "$log"; kill $pid 2>/dev/null || true' EXIT
cat > "$lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "image/png"
local f = assert(io.open("$(realpath "$image")", "rb"))
wrk.body = f:read("*a")
f:close()
LUA
for batch in 64 1; do
  "$bin" serve --checkpoint "$ckpt" --port 0 --max-batch "$batch" > "$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q listening "$log" && break; sleep 0.1; done
  url=$(grep -o 'http://[0-9.:]*' "$log")
  echo "== --max-batch $batch, $conns connections, ${secs}s =="
  wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$lua" "$url/predict" | grep -E "Requests/sec|Latency  |50%|90%|99%|requests in|Non-2xx"
  curl -s "$url/health"; echo
  kill $pid; wait $pid 2>/dev/null || true
done
