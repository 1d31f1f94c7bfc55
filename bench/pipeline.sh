#!/usr/bin/env bash
# Benchmark: each implemented stage on a fresh database, release build
# (BENCH_STAGES="generate validate prepare" picks a subset; BENCH_BIN=PATH
# runs another build of churn instead, e.g. the previous commit's, for a
# side-by-side comparison).
# Usage: bench/pipeline.sh USERS [DAYS]
# Prints stage, wall seconds, rows out and peak memory (max RSS).
set -euo pipefail
users=${1:?usage: bench/pipeline.sh USERS [DAYS]}
days=${2:-240}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -n "${BENCH_BIN:-}" ]; then
  bin=$BENCH_BIN
else
  bash scripts/fetch-duckdb.sh
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-$root/target}/release/churn"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/bench.duckdb"
stages=(generate validate prepare features labels training-set train promote score drift)
[ -n "${BENCH_STAGES:-}" ] && read -r -a stages <<<"$BENCH_STAGES"

printf '%-14s %10s %14s %12s\n' stage seconds rows_out peak_MB
total=0
peak=0
for stage in "${stages[@]}"; do
  CHURN_GENERATE_USERS=$users CHURN_GENERATE_DAYS=$days \
    /usr/bin/time -f '%e %M' -o "$work/time" \
    "$bin" --db "$db" run --stage "$stage" 2>"$work/log" >/dev/null || {
      rc=$?
      # drift exits 2 on FAIL: a result, not a failed stage.
      if [ "$stage" != drift ] || [ $rc -ne 2 ]; then
        echo "stage $stage failed:" >&2; cat "$work/log" >&2; exit 1
      fi; }
  # time writes "Command exited with non-zero status N" first when it does.
  read -r secs kb < <(tail -1 "$work/time")
  rows=$(grep -o 'rows_out=[0-9]*' "$work/log" | tail -1 | cut -d= -f2)
  mb=$((kb / 1024))
  printf '%-14s %10s %14s %12s\n' "$stage" "$secs" "${rows:--}" "$mb"
  total=$(echo "$total + $secs" | bc)
  [ "$mb" -gt "$peak" ] && peak=$mb
done
printf '%-14s %10s %14s %12s\n' total "$total" "" "$peak"
echo "($users users x $days days; database $(du -h "$db" | cut -f1))"
