#!/usr/bin/env bash
# Benchmark: drift and retrain on a copy of a scored database, release build.
# Usage: bench/monitor.sh DB [RUNS]
#   DB    a file that has been through `churn run --to score` (the original
#         is never written: every run works on a temporary copy)
#   RUNS  drift checks to time (default 5); retrain runs once.
# CHURN_BIN=PATH benchmarks that binary instead of building this checkout.
# Prints each drift check's wall seconds and peak memory, their minimum and
# median, and retrain's. The first check is listed apart: for a model stored
# without a reference profile it builds one from training_set.
set -euo pipefail
src=${1:?usage: bench/monitor.sh DB [RUNS]}
runs=${2:-5}
[ -f "$src" ] || { echo "no database at $src: run \`churn --db $src run --to score\` first" >&2; exit 1; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ -n "${CHURN_BIN:-}" ]; then
  bin=$CHURN_BIN   # an installed binary instead of this checkout's build
else
  bash scripts/fetch-duckdb.sh >/dev/null
  cargo build --release --quiet
  bin="${CARGO_TARGET_DIR:-$root/target}/release/churn"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/bench.duckdb"
cp "$src" "$db"

timed() { # label, then churn arguments; drift's exit 2 (FAIL) is a result
  local label=$1; shift
  local rc=0
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --db "$db" -q "$@" >/dev/null 2>"$work/log" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 2 ]; then
    echo "$label failed (exit $rc):" >&2; cat "$work/log" >&2; exit 1
  fi
  read -r secs kb < <(tail -n 1 "$work/time")  # after "Command exited with ..." on exit 2
  printf '%-24s %8s s %8s MB\n' "$label" "$secs" "$((kb / 1024))"
  echo "$secs" >>"$work/$label.times"
}

timed first-drift run --stage drift
for _ in $(seq "$runs"); do
  timed drift run --stage drift
done
sort -n "$work/drift.times" | awk '{ t[NR] = $1 } END {
  m = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
  printf "%-24s %8.2f s (min) %6.2f s (median) over %d\n", "drift", t[1], m, NR }'
timed retrain run --stage retrain
echo "(database: $(du -h "$src" | cut -f1), $runs drift checks after the first)"
