#!/usr/bin/env bash
# The production loop, a day at a time (docs/design.md §9): builds a file of
# USERS users over HISTORY days with the whole pipeline, then DAYS times
# appends one day (`generate --append-days 1`) and runs the scoring CronJob's
# command (`run --stage validate --stage prepare --stage features --stage
# score`). Prints, per day, each stage's seconds and rows written (from
# pipeline_runs), the whole job's wall seconds and peak RSS; then the weekly
# job (labels, training-set) on the same file; then the same two jobs with
# --full on a copy (the rebuild a day used to cost), and whether the tables
# of both ways are equal.
#   bash bench/daily.sh USERS DAYS [HISTORY]        (HISTORY: 240 days)
#   BENCH_BIN=PATH runs another build; BENCH_DIR=DIR keeps the files;
#   BENCH_BASE=FILE starts from a copy of a file the whole pipeline built
#   (of USERS users and HISTORY days) instead of building one (moved, not
#   copied, with BENCH_MOVE_BASE=1: a 1M file is 30 GB); BENCH_FULL=0
#   leaves out the --full jobs and the comparison;
#   BENCH_MEMORY_MAX=6G runs the jobs in a cgroup with that memory limit
#   (cgroup v1 or v2, needs root), as k8s/cronjobs.yaml limits the pod.
#   Needs python3; installs the duckdb package of the linked version into a
#   cached venv.
set -euo pipefail
users=${1:?usage: bench/daily.sh USERS DAYS [HISTORY]}
days=${2:?usage: bench/daily.sh USERS DAYS [HISTORY]}
history=${3:-240}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bench/lib.sh
bin=$(bench_bin)
python=$(bench_python)
work=${BENCH_DIR:-$(mktemp -d)}
mkdir -p "$work"
[ -z "${BENCH_DIR:-}" ] && trap 'rm -rf "$work"' EXIT
db="$work/daily.duckdb"
export CHURN_GENERATE_USERS=$users CHURN_GENERATE_DAYS=$history

# A cgroup with the memory limit, if asked: the jobs run inside it.
cgroup=""
if [ -n "${BENCH_MEMORY_MAX:-}" ]; then
  bytes=$(numfmt --from=iec "${BENCH_MEMORY_MAX}")
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    cgroup=/sys/fs/cgroup/churn-daily-bench
    mkdir -p "$cgroup"
    echo "$bytes" > "$cgroup/memory.max"
  else
    cgroup=/sys/fs/cgroup/memory/churn-daily-bench
    mkdir -p "$cgroup"
    echo "$bytes" > "$cgroup/memory.limit_in_bytes"
  fi
fi

# Runs churn (in the cgroup, if any) under /usr/bin/time into $work/time.
timed() {
  if [ -n "$cgroup" ]; then
    /usr/bin/time -f '%e %M' -o "$work/time" sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$cgroup" "$bin" "$@"
  else
    /usr/bin/time -f '%e %M' -o "$work/time" "$bin" "$@"
  fi
}
secs() { tail -1 "$work/time" | cut -d' ' -f1; }
gb() { echo "$(tail -1 "$work/time" | cut -d' ' -f2) / 1048576" | bc -l | xargs printf '%.2f'; }

# "seconds (rows)" of each stage of the last run, in the order given.
cat > "$work/stages.py" <<'PY'
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
run = con.execute("select run_id from pipeline_runs order by started_at desc limit 1").fetchone()[0]
got = {s: (sec, rows) for s, sec, rows in con.execute(
    "select stage, epoch(finished_at - started_at), rows_out from pipeline_runs where run_id = ?", [run]).fetchall()}
print(" | ".join(f"{got[s][0]:.2f} ({got[s][1]:,})" for s in sys.argv[2:]))
PY
# The maintained tables of two files: rows, and rows in one and not the other.
cat > "$work/equal.py" <<'PY'
import sys, duckdb
con = duckdb.connect()
con.execute(f"attach '{sys.argv[1]}' as a (read_only)")
con.execute(f"attach '{sys.argv[2]}' as b (read_only)")
for t in ["user_daily", "user_features_daily", "labels_daily", "training_set"]:
    n = con.execute(f"select count(*) from a.{t}").fetchone()[0]
    d = con.execute(f"select (select count(*) from (select * from a.{t} except all select * from b.{t})) + "
                    f"(select count(*) from (select * from b.{t} except all select * from a.{t}))").fetchone()[0]
    print(f"- {t}: {n:,} rows, {d} differ")
PY

if [ -n "${BENCH_BASE:-}" ]; then
  if [ "${BENCH_MOVE_BASE:-0}" = 1 ]; then
    echo "start: $BENCH_BASE (moved here)"
    mv "$BENCH_BASE" "$db"
  else
    echo "start: a copy of $BENCH_BASE"
    cp "$BENCH_BASE" "$db"
  fi
else
  echo "build: $users users x $history days, the whole pipeline"
  "$bin" --db "$db" -q run >/dev/null
fi
# A copy of the base file (8 GB at 100,000 users) leaves gigabytes of
# dirty pages, which the first fsync after it writes back and counts as its
# own (at 100,000 users the first append took 1.8-2.4 s in five runs
# without this sync, 0.6-1.0 s in eight with it): written out before
# anything is timed.
sync
echo
echo "| day | append s | validate s (rows) | prepare s (rows) | features s (rows) | score s (rows) | job s | job peak GB |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
job=(run --stage validate --stage prepare --stage features --stage score)
for d in $(seq "$days"); do
  timed --db "$db" -q generate --append-days 1 >/dev/null
  append=$(secs)
  timed --db "$db" -q "${job[@]}" >/dev/null
  echo "| $d | $append | $("$python" "$work/stages.py" "$db" validate prepare features score) | $(secs) | $(gb) |"
done
echo
if [ -n "$cgroup" ]; then echo "(jobs run under a ${BENCH_MEMORY_MAX} memory limit, cgroup $cgroup)"; fi
# The copy the --full jobs rebuild (not made with BENCH_FULL=0: a 1M file is 30 GB).
[ "${BENCH_FULL:-1}" = 0 ] || { cp "$db" "$work/full.duckdb" && sync; }
timed --db "$db" -q run --stage labels --stage training-set >/dev/null
echo "weekly job (labels, training-set) after $days days: $(secs) s, peak $(gb) GB: $("$python" "$work/stages.py" "$db" labels training-set)"
if [ "${BENCH_FULL:-1}" = 0 ]; then
  bench_stamp
  exit 0
fi
timed --db "$work/full.duckdb" -q run --full "${job[@]:1}" >/dev/null
echo "the scoring job with --full (a rebuild): $(secs) s, peak $(gb) GB: $("$python" "$work/stages.py" "$work/full.duckdb" validate prepare features score)"
timed --db "$work/full.duckdb" -q run --full --stage labels --stage training-set >/dev/null
echo "the weekly job with --full: $(secs) s, peak $(gb) GB: $("$python" "$work/stages.py" "$work/full.duckdb" labels training-set)"
echo "day by day vs rebuilt:"
"$python" "$work/equal.py" "$db" "$work/full.duckdb"
bench_stamp
