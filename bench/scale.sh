#!/usr/bin/env bash
# The default pipeline at N users on a fresh file, one `churn run --stage S`
# per stage (release build): per stage the wall seconds, the rows it wrote,
# its peak resident memory (that process's own, from /usr/bin/time), and the
# seconds per million user-days; then the total and the file's size.
# Prints a Markdown table (as bench/README.md keeps them).
#   bash bench/scale.sh USERS [DAYS]      (default 240 days)
#   BENCH_BIN=PATH runs another build; BENCH_STAGES="generate validate"
#   runs a subset; BENCH_DIR=DIR keeps the file; CHURN_* settings pass through.
set -euo pipefail
users=${1:?usage: bench/scale.sh USERS [DAYS]}
days=${2:-240}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bench/lib.sh
bin=$(bench_bin)
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
[ -z "${BENCH_DIR:-}" ] && trap 'rm -rf "$work"' EXIT
db="$work/scale.duckdb"
rm -f "$db" "$db.wal"
export CHURN_GENERATE_USERS=$users CHURN_GENERATE_DAYS=$days
stages=(generate validate prepare features labels training-set train promote score drift evaluate)
[ -n "${BENCH_STAGES:-}" ] && read -r -a stages <<<"$BENCH_STAGES"
echo "| stage | seconds | rows out | peak RSS | s per M user-days |"
echo "|---|---:|---:|---:|---:|"
total=0
peak=0
user_days=0
for stage in "${stages[@]}"; do
  /usr/bin/time -f '%e %M' -o "$work/time" "$bin" --db "$db" run --stage "$stage" \
    2>"$work/log" >/dev/null || {
      rc=$?
      if [ "$rc" -ne 2 ]; then echo "stage $stage failed (exit $rc):" >&2; tail -5 "$work/log" >&2; exit 1; fi
    }
  read -r secs kb < <(tail -1 "$work/time")
  rows=$(grep -o 'rows_out=[0-9]*' "$work/log" | tail -1 | cut -d= -f2 || true)
  [ "$stage" = prepare ] && user_days=${rows:-0}
  per=""
  if [ "$user_days" -gt 0 ]; then per=$(echo "scale=3; $secs * 1000000 / $user_days" | bc); fi
  printf '| %s | %.1f | %s | %.2f GB | %s |\n' "$stage" "$secs" "${rows:--}" "$(echo "$kb / 1048576" | bc -l)" "$per"
  total=$(echo "$total + $secs" | bc)
  [ "$kb" -gt "$peak" ] && peak=$kb
done
per=""
if [ "$user_days" -gt 0 ]; then per=$(echo "scale=3; $total * 1000000 / $user_days" | bc); fi
printf '| **total** | **%.1f** | | **%.2f GB** | %s |\n' "$total" "$(echo "$peak / 1048576" | bc -l)" "$per"
echo
echo "$users users x $days days: $user_days user-days; database $(du -h "$db" | cut -f1); $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"
