#!/usr/bin/env bash
# The kill -9 drill: every writing stage, killed at moments spread over its
# run and at its commit, on copies of one scored file; after each kill the
# file is opened for writing (which removes the rows of a load killed during
# its commit) and its state compared with the state before the stage and
# with the stage run to the end on another copy. Prints, per stage, the
# kills, the opens that succeeded, how many kills left the previous state,
# how many the complete new state, and the torn and unrecorded ones (both
# must be 0).
#   bash bench/drills.sh [USERS]     (default 20000; a release build)
set -euo pipefail
users=${1:-20000}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/fetch-duckdb.sh
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/release/churn"
venv="$root/bench/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet duckdb==1.5.6 numpy scikit-learn
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
base="$work/base.duckdb"
export CHURN_GENERATE_USERS=$users
echo "drills: building the base file ($users users)" >&2
"$bin" --db "$base" run >/dev/null 2>"$work/base.log" || [ $? -eq 2 ]
# Files for ingest, and a drifted config for the append.
"$venv/bin/python" - "$base" "$work" <<'PY'
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute(f"copy (select * exclude (load_id) from users) to '{sys.argv[2]}/users.parquet' (format parquet)")
con.execute(f"copy (select * exclude (load_id) from events) to '{sys.argv[2]}/events.parquet' (format parquet)")
PY

# stage name, the command
stages=(
  "generate|generate --append-days 30"
  "ingest|ingest --users $work/users.parquet --events $work/events.parquet"
  "validate|run --stage validate"
  "prepare|run --stage prepare"
  "features|run --stage features"
  "labels|run --stage labels"
  "training-set|run --stage training-set"
  "train|run --stage train"
  "promote|run --stage promote"
  "score|run --stage score --from-date 2026-06-01 --to-date 2026-06-29"
  "drift|run --stage drift"
  "evaluate|run --stage evaluate"
  "retrain|run --stage retrain"
)

fingerprint() {
  "$venv/bin/python" - "$1" <<'PY'
import duckdb, json, sys
con = duckdb.connect(sys.argv[1], read_only=True)
# Columns that differ between two runs of the same work: times, ids drawn at
# random, free text with them.
volatile = {"run_id", "load_id", "model_id", "previous_model_id", "created_at", "checked_at",
            "evaluated_at", "scored_at", "generated_at", "committed_at", "started_at", "finished_at",
            "promoted_at", "metrics_json", "params_json", "table_rows", "reason", "error", "sample_json",
            "max_psi_feature", "fit_seconds"}
out = {}
# loads is the ledger itself: a recovery adds a row to it.
for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'main' and table_name <> 'loads' "
                        "order by 1").fetchall():
    # Doubles rounded to 9 decimals: DuckDB's parallel sums may differ in
    # the last bit between two runs of the same statement.
    cols = [f'round("{c}", 9)' if ty == "DOUBLE" else f'"{c}"' for (c, ty) in con.execute(
        "select column_name, data_type from duckdb_columns() where table_name = ? and schema_name = 'main' "
        "order by column_index", [t]).fetchall() if c not in volatile]
    n = con.execute(f'select count(*) from "{t}"').fetchone()[0]
    # Models and their terms are refits: their numbers repeat only to the last bits.
    if t in ("models", "model_terms", "model_reference_bins", "model_promotions", "drift_runs",
             "drift_results", "drift_bins", "performance_runs", "pipeline_runs", "loads", "predictions"):
        out[t] = [n]
    else:
        sel = ", ".join(cols)
        h = con.execute(f'select coalesce(sum(hash({sel}))::varchar, \'0\') from "{t}"').fetchone()[0]
        out[t] = [n, h]
runs = con.execute("select stage, count(*) from pipeline_runs group by 1").fetchall()
out["_runs"] = dict(runs)
print(json.dumps(out, sort_keys=True))
PY
}

printf '%-13s %6s %6s %9s %9s %6s %11s\n' stage kills opens previous complete torn unrecorded
total_torn=0
total_unrecorded=0
for entry in "${stages[@]}"; do
  name=${entry%%|*}
  cmd=${entry#*|}
  # The stage run to the end, on its own copy: the complete new state.
  cp "$base" "$work/ref.duckdb"
  before=$(fingerprint "$work/ref.duckdb")
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$bin" --db "$work/ref.duckdb" $cmd >/dev/null 2>&1 || true
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  after=$(fingerprint "$work/ref.duckdb")
  kills=0 opens=0 previous=0 complete=0 torn=0 unrecorded=0
  # Timed kills at 20%, 50%, 80% and 95% of the stage's time, then kills at
  # its commit: just before, just after, and (for the bulk loads) during it
  # as the engine can leave it.
  modes=("t0.2" "t0.5" "t0.8" "t0.95" "f:kill-before-commit" "f:kill-after-commit")
  case "$name" in generate|ingest|score) modes+=("f:torn-commit") ;; esac
  for mode in "${modes[@]}"; do
    cp "$base" "$work/drill.duckdb"
    # (The shell's "Aborted" notices of the hooked runs are silenced too.)
    {
    if [[ $mode == t* ]]; then
      delay=$(echo "$seconds * ${mode#t}" | bc -l)
      # shellcheck disable=SC2086
      "$bin" --db "$work/drill.duckdb" $cmd >/dev/null 2>&1 &
      pid=$!
      sleep "$delay"
      kill -9 "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    else
      # shellcheck disable=SC2086
      CHURN_TEST_FAULT="${mode#f:}:$name" "$bin" --db "$work/drill.duckdb" $cmd >/dev/null 2>&1 || true
    fi
    } 2>/dev/null
    kills=$((kills + 1))
    if "$bin" --db "$work/drill.duckdb" status --recover >/dev/null 2>&1; then
      opens=$((opens + 1))
    fi
    state=$(fingerprint "$work/drill.duckdb")
    verdict=$("$venv/bin/python" - "$before" "$after" "$state" "$name" <<'PY'
import json, sys
before, after, state = (json.loads(x) for x in sys.argv[1:4])
stage = sys.argv[4]
ran = state["_runs"].get(stage, 0) > before["_runs"].get(stage, 0)
data = lambda s: {k: v for k, v in s.items() if k != "_runs"}
if not ran:
    print("previous" if data(state) == data(before) else "unrecorded")
else:
    print("complete" if data(state) == data(after) else "torn")
PY
)
    case "$verdict" in
      previous) previous=$((previous + 1)) ;;
      complete) complete=$((complete + 1)) ;;
      torn) torn=$((torn + 1)) ;;
      unrecorded) unrecorded=$((unrecorded + 1)) ;;
    esac
  done
  total_torn=$((total_torn + torn))
  total_unrecorded=$((total_unrecorded + unrecorded))
  printf '%-13s %6s %6s %9s %9s %6s %11s\n' "$name" "$kills" "$opens" "$previous" "$complete" "$torn" "$unrecorded"
done
echo "($users users; every kill: -9 or an abort at the commit hook; torn $total_torn, unrecorded $total_unrecorded)"
[ "$total_torn" -eq 0 ] && [ "$total_unrecorded" -eq 0 ]
