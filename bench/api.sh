#!/usr/bin/env bash
# API benchmark: the release server on loopback with a trained model, wrk for
# 10 s at 1, 16 and 64 connections against POST /predict with a realistic
# body (every input the model reads) and GET /users/{id}/risk, requests/s
# and p50/p99 per run, and the server's resident memory with the file's
# predictions slice loaded. Each run is followed by the same requests to a
# bare axum server (bench/bare_api.rs: parses the same body, answers a
# constant; no limits, metrics or model), and churn's throughput is printed
# as a ratio of the bare one (the median of BENCH_ROUNDS pairs).
#
#   bash bench/api.sh [DB]      # DB: a file with a production model; default:
#                               # a fresh 2,000-user pipeline in a temp folder
# Env: BENCH_SECONDS (10), BENCH_CONNECTIONS ("1 16 64"), BENCH_ROUNDS (3),
# BENCH_PORT (8765),
# BENCH_BIN=PATH to run another build (e.g. the previous commit's) side by side.
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_RUN=${BENCH_SECONDS:-10}
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
cargo build --release --quiet --example bare-api
BARE=${CARGO_TARGET_DIR:-target}/release/examples/bare-api
BARE_PORT=$((PORT + 1))

WORK=$(mktemp -d)
SERVER_PID=
BARE_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    if [ -n "$BARE_PID" ]; then kill "$BARE_PID" 2>/dev/null || true; wait "$BARE_PID" 2>/dev/null || true; fi
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
"$BARE" "127.0.0.1:$BARE_PORT" > "$WORK/bare.log" 2>&1 &
BARE_PID=$!
for _ in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$BARE_PORT/users/u1/risk"; then break; fi
    sleep 0.1
done

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

# A user of the predictions slice, for GET /users/{id}/risk.
RISK_USER=
for n in $(seq 1 200); do
    u=$(printf 'u%06d' "$n")
    if curl -fs -o /dev/null "http://127.0.0.1:$PORT/users/$u/risk"; then RISK_USER=$u; break; fi
done
[ -n "$RISK_USER" ] || { echo "no user of u000001..u000200 has a batch prediction" >&2; exit 1; }

cat > "$WORK/report.lua" <<'EOF'
done = function(summary, latency, requests)
  io.write(string.format("RESULT %.0f req/s  p50 %.3f ms  p99 %.3f ms  errors %d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
EOF
cp "$WORK/report.lua" "$WORK/get.lua"
cat > "$WORK/post.lua" <<EOF
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$WORK/body.json", "r")
wrk.body = f:read("*a")
f:close()
EOF
cat "$WORK/report.lua" >> "$WORK/post.lua"

# "N req/s  p50 ..." of a wrk run: run CONNECTIONS URL SCRIPT
run() {
    local threads=$(( $1 < 2 ? 1 : 2 ))
    wrk -t"$threads" -c"$1" -d"${SECONDS_PER_RUN}s" --latency -s "$3" "$2" | grep RESULT | sed 's/^RESULT //'
}
rate() { echo "$1" | cut -d' ' -f1; }

# On a shared 2-core VM a run's rate moves by 10-20% from one run to the
# next, for both servers alike, so each configuration is BENCH_ROUNDS
# pairs, churn then bare, A B A B, and the line gives the median of the
# pairs' ratios (each pair's ratio is in the log above it).
ROUNDS=${BENCH_ROUNDS:-3}
echo "cores: $(nproc); wrk and the servers share them; $ROUNDS rounds of churn then the bare server, ${SECONDS_PER_RUN} s each"
for route in "POST /predict" "GET /users/{id}/risk"; do
    if [ "$route" = "POST /predict" ]; then
        path=/predict script=$WORK/post.lua
    else
        path=/users/$RISK_USER/risk script=$WORK/get.lua
    fi
    for c in $CONNECTIONS; do
        ratios=()
        for round in $(seq 1 "$ROUNDS"); do
            ours=$(run "$c" "http://127.0.0.1:$PORT$path" "$script")
            bare=$(run "$c" "http://127.0.0.1:$BARE_PORT$path" "$script")
            ratio=$(echo "$(rate "$ours") / $(rate "$bare")" | bc -l)
            ratios+=("$ratio")
            printf '  round %d: %s | bare %s req/s | ratio %.2f\n' "$round" "$ours" "$(rate "$bare")" "$ratio" >&2
        done
        median=$(printf '%s\n' "${ratios[@]}" | sort -g | awk '{ r[NR] = $1 } END { print (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }')
        printf '%-21s %3d connections: %s | bare %s req/s | median ratio of %d rounds %.2f\n' "$route" "$c" "$ours" \
            "$(rate "$bare")" "$ROUNDS" "$median"
    done
done
echo "server resident memory: $(awk '/VmRSS/ {print $2/1024 " MB"}' /proc/$SERVER_PID/status) (peak $(awk '/VmHWM/ {print $2/1024 " MB"}' /proc/$SERVER_PID/status))"
echo "($(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), $(nproc) cores)"
