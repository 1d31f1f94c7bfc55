#!/usr/bin/env bash
# API benchmark: the release server on loopback with a trained model, wrk for
# 20 s at 1, 16 and 64 connections against POST /predict with a realistic
# body (every input the model reads), requests/s and p50/p99 per run, and the
# server's resident memory with the file's predictions slice loaded.
#
#   bash bench/api.sh [DB]      # DB: a file with a production model; default:
#                               # a fresh 2,000-user pipeline in a temp folder
# Env: BENCH_SECONDS (20), BENCH_CONNECTIONS ("1 16 64"), BENCH_PORT (8765),
# BENCH_BIN=PATH to run another build (e.g. the previous commit's) side by side.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-20}
CONNECTIONS=${BENCH_CONNECTIONS:-"1 16 64"}
PORT=${BENCH_PORT:-8765}

if ! command -v wrk >/dev/null; then
    echo "bench/api.sh needs wrk: apt-get install wrk" >&2
    exit 1
fi
if [ -n "${BENCH_BIN:-}" ]; then
    BIN=$BENCH_BIN
else
    bash scripts/fetch-duckdb.sh >/dev/null
    cargo build --release --quiet
    BIN=${CARGO_TARGET_DIR:-target}/release/churn
fi

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

DB=${1:-}
if [ -z "$DB" ]; then
    DB=$WORK/churn.duckdb
    echo "building a 2,000-user pipeline in $DB ..."
    "$BIN" --db "$DB" -q run --to score
fi

"$BIN" --db "$DB" -q serve --addr "127.0.0.1:$PORT" > "$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    if curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null; then break; fi
    sleep 0.2
done
curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null || { echo "server not ready:" >&2; cat "$WORK/server.log" >&2; exit 1; }

# A realistic body from /model: every input the model reads, numbers at
# mean + 0.7 sd, the first category of each categorical input.
MODEL=$(curl -fs "http://127.0.0.1:$PORT/model")
python3 - "$MODEL" > "$WORK/body.json" <<'EOF'
import json, sys
model = json.loads(sys.argv[1])
features = {}
for t in model["terms"]:
    if t["feature"] is None:
        continue
    if t["category"] is None:
        features[t["feature"]] = round(t["center"] + 0.7 * t["scale"], 3)
    elif t["feature"] not in features:
        features[t["feature"]] = t["category"]
print(json.dumps({"user_id": "u000123", "features": features}))
EOF
echo "body: $(wc -c < "$WORK/body.json") bytes, $(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["features"]))' "$WORK/body.json") features"
curl -fs -X POST -H 'content-type: application/json' --data @"$WORK/body.json" "http://127.0.0.1:$PORT/predict"
echo

cat > "$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$WORK/body.json", "r")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
EOF

echo "cores: $(nproc); wrk and the server share them"
for c in $CONNECTIONS; do
    threads=$(( c < 2 ? 1 : 2 ))
    line=$(wrk -t"$threads" -c"$c" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/post.lua" \
        "http://127.0.0.1:$PORT/predict" | grep RESULT)
    printf '%3d connections: %s\n' "$c" "${line#RESULT }"
done
echo "server resident memory: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$SERVER_PID/status) (peak $(awk '/VmHWM/ {print $2/1024 " MB"}' /proc/$SERVER_PID/status))"
