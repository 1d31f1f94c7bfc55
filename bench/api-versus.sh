#!/usr/bin/env bash
# Two builds of `churn serve` and the bare axum server side by side on
# GET /users/{id}/risk: ROUNDS rounds of A, B, bare (wrk, SECONDS each),
# then per server the median requests/s and the median server CPU per
# request (user + system time of the server process over the requests it
# answered; steadier than the rates on a shared VM).
#
#   bash bench/api-versus.sh BIN_A BIN_B [DB]   # DB: default data/churn.duckdb
# Env: BENCH_ROUNDS (6), BENCH_SECONDS (3), BENCH_CONNECTIONS ("16 64"),
# BENCH_USER (u000907: a user of DB's served slice).
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2 DB=${3:-data/churn.duckdb}
ROUNDS=${BENCH_ROUNDS:-6} SECS=${BENCH_SECONDS:-3} USER_ID=${BENCH_USER:-u000907}
cargo build --release --quiet --example bare-api
BARE=${CARGO_TARGET_DIR:-target}/release/examples/bare-api
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT
"$A" --db "$DB" -q serve --addr 127.0.0.1:8771 >/dev/null 2>&1 & PIDS+=($!)
"$B" --db "$DB" -q serve --addr 127.0.0.1:8772 >/dev/null 2>&1 & PIDS+=($!)
"$BARE" 127.0.0.1:8773 >/dev/null 2>&1 & PIDS+=($!)
for port in 8771 8772; do
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/ready" >/dev/null && break; sleep 0.2; done
done
sleep 1
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
names=("A $A" "B $B" "bare")
for c in ${BENCH_CONNECTIONS:-16 64}; do
    declare -A rates=() cpus=()
    for _ in $(seq 1 "$ROUNDS"); do
        for i in 0 1 2; do
            pid=${PIDS[$i]} port=$((8771 + i))
            t0=$(ticks "$pid")
            out=$(wrk -t2 -c"$c" -d"${SECS}s" "http://127.0.0.1:$port/users/$USER_ID/risk")
            t1=$(ticks "$pid")
            n=$(echo "$out" | awk '/requests in/ { print $1 }')
            rates[$i]+="$(echo "$out" | awk '/Requests\/sec/ { print $2 }') "
            cpus[$i]+="$(echo "($t1 - $t0) * 1000000 / $hz / $n" | bc -l) "
        done
    done
    echo "GET /users/{id}/risk, $c connections, median of $ROUNDS rounds of ${SECS} s:"
    for i in 0 1 2; do
        printf '  %-50s %8.0f req/s  %6.2f us server CPU per request\n' "${names[$i]}" \
            "$(tr ' ' '\n' <<<"${rates[$i]}" | grep . | median)" "$(tr ' ' '\n' <<<"${cpus[$i]}" | grep . | median)"
    done
done
echo "($(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD), $(nproc) cores)"
