#!/usr/bin/env bash
# The drills of docs/design.md §7, on copies of one scored file:
# - kill -9 of every writing stage at moments spread over its run and at its
#   commit (just before, just after, and for the bulk loads during it, as the
#   engine can leave it);
# - SIGTERM just after the commit: exit 143, a message that says the stage
#   was kept, and the complete new state;
# - readers before recovery: after each kill, a read-only `churn export` of
#   users and events (no writer has opened the file yet) must see exactly
#   the rows the recovered file holds, never those of an unrecorded load;
# - then the file is opened for writing (`status --recover`, which removes
#   the rows of a load killed during its commit) and its state compared with
#   the state before the stage and with the stage run to the end on another
#   copy;
# - export kills: a reader of the lake finds the previous export or the new
#   one, whole, never a mix of the two (the lake's _manifest.json);
# - a flood of stalled and silent connections against `churn serve`: the
#   probes' latency under it, and whether the silent ones are closed.
# Prints, per stage, the kills, the opens that succeeded, how many left the
# previous state and how many the complete new one, the torn and unrecorded
# ones, the reruns after a kill that kept nothing that equal the
# uninterrupted run, the readers that saw only recorded rows and the
# SIGTERMs answered truly; then the flood. Exits 1 if anything was torn, unrecorded, seen by a
# reader, misreported, or a probe failed.
#   bash bench/drills.sh [USERS]     (default 20000; a release build)
#   DRILL_SHORT=1: one kill per writing stage at its commit, one SIGTERM,
#     one flood (CI runs it on 2,000 users with the debug build, under 3
#     minutes)
#   BENCH_BIN=PATH runs that build (CI: the debug build `cargo test` made)
set -euo pipefail
users=${1:-20000}
short=${DRILL_SHORT:-0}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. bench/lib.sh
bin=$(bench_bin)
python=$(bench_python)
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
base="$work/base.duckdb"
export CHURN_GENERATE_USERS=$users
echo "drills: building the base file ($users users)" >&2
"$bin" --db "$base" run >/dev/null 2>"$work/base.log" || [ $? -eq 2 ]
# Files for ingest.
"$python" - "$base" "$work" <<'PY'
import duckdb, sys
con = duckdb.connect(sys.argv[1], read_only=True)
con.execute(f"copy (select * exclude (load_id) from users) to '{sys.argv[2]}/users.parquet' (format parquet)")
con.execute(f"copy (select * exclude (load_id) from events) to '{sys.argv[2]}/events.parquet' (format parquet)")
PY

# A fresh copy of the base file: with no write-ahead log left beside it by
# the last drill (DuckDB would replay another run's log onto the copy).
fresh() {
  rm -f "$1" "$1.wal"
  cp "$base" "$1"
}

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
  "$python" - "$1" <<'PY'
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
             "drift_results", "drift_bins", "performance_runs", "pipeline_runs", "loads", "predictions",
             "table_changes", "watermarks", "load_checks"):
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

# True when two fingerprints hold the same data (the run counts aside).
same_data() {
  "$python" -c "import json,sys; a,b=(json.loads(x) for x in sys.argv[1:3]); a.pop('_runs'); b.pop('_runs'); print(a == b)" "$1" "$2"
}

# "users events" row counts: of a file (after recovery), or of a lake that
# `churn export` wrote from it (what a reader saw).
counts_of_file() {
  "$python" -c "import duckdb,sys; c=duckdb.connect(sys.argv[1], read_only=True); \
print(*[c.execute(f'select count(*) from {t}').fetchone()[0] for t in ('users','events')])" "$1"
}
# counts_of_lake LAKE [TABLE...]: the tables' rows where the lake's
# manifest names their folders (default: users events).
counts_of_lake() {
  "$python" - "$@" <<'PY'
import duckdb, json, sys
lake, tables = sys.argv[1], sys.argv[2:] or ["users", "events"]
manifest = json.load(open(f"{lake}/_manifest.json"))
con = duckdb.connect()
print(*[con.execute(f"select count(*) from read_parquet('{lake}/{manifest['tables'][t]['path']}/**/*.parquet')")
        .fetchone()[0] for t in tables])
PY
}

printf '%-13s %6s %6s %9s %9s %6s %11s %8s %8s %8s\n' stage kills opens previous complete torn unrecorded rerun readers sigterm
failures=0
for entry in "${stages[@]}"; do
  name=${entry%%|*}
  cmd=${entry#*|}
  # The stage run to the end, on its own copy: the complete new state.
  fresh "$work/ref.duckdb"
  before=$(fingerprint "$work/ref.duckdb")
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  "$bin" --db "$work/ref.duckdb" $cmd >/dev/null 2>&1 || true
  seconds=$(echo "$(date +%s.%N) - $start" | bc)
  after=$(fingerprint "$work/ref.duckdb")
  kills=0 opens=0 previous=0 complete=0 torn=0 unrecorded=0 readers=0 read_ok=0 rerun_ok=0
  if [ "$short" = 1 ]; then
    # One kill at the commit: during it for the bulk loads, else just
    # before it (then the rerun is checked; the SIGTERM below covers just
    # after it).
    case "$name" in
      generate|ingest|score) modes=("f:torn-commit") ;;
      *) modes=("f:kill-before-commit") ;;
    esac
  else
    # Timed kills at 20%, 50%, 80% and 95% of the stage's time, then kills
    # at its commit.
    modes=("t0.2" "t0.5" "t0.8" "t0.95" "f:kill-before-commit" "f:kill-after-commit")
    case "$name" in generate|ingest|score) modes+=("f:torn-commit") ;; esac
  fi
  for mode in "${modes[@]}"; do
    fresh "$work/drill.duckdb"
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
    # A reader before any writer has recovered the file.
    rm -rf "$work/lake"
    seen=""
    if "$bin" --db "$work/drill.duckdb" -q export --out "$work/lake" users events >/dev/null 2>&1; then
      readers=$((readers + 1))
      seen=$(counts_of_lake "$work/lake")
    fi
    if "$bin" --db "$work/drill.duckdb" status --recover >/dev/null 2>&1; then
      opens=$((opens + 1))
    fi
    if [ -n "$seen" ] && [ "$seen" = "$(counts_of_file "$work/drill.duckdb")" ]; then
      read_ok=$((read_ok + 1))
    fi
    state=$(fingerprint "$work/drill.duckdb")
    verdict=$("$python" - "$before" "$after" "$state" "$name" <<'PY'
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
      previous)
        previous=$((previous + 1))
        # The rerun after a kill that kept nothing equals the uninterrupted run.
        # shellcheck disable=SC2086
        "$bin" --db "$work/drill.duckdb" $cmd >/dev/null 2>&1 || true
        if [ "$(same_data "$after" "$(fingerprint "$work/drill.duckdb")")" = True ]; then
          rerun_ok=$((rerun_ok + 1))
        fi
        ;;
      complete) complete=$((complete + 1)) ;;
      torn) torn=$((torn + 1)) ;;
      unrecorded) unrecorded=$((unrecorded + 1)) ;;
    esac
  done
  # SIGTERM just after the commit: 143, "kept", and the complete state.
  fresh "$work/drill.duckdb"
  rc=0
  # shellcheck disable=SC2086
  CHURN_TEST_FAULT="term-after-commit:$name" "$bin" --db "$work/drill.duckdb" $cmd >/dev/null 2>"$work/term.log" || rc=$?
  term_ok=0
  if [ "$rc" -eq 143 ] && grep -q "its results are kept" "$work/term.log" \
    && [ "$(same_data "$after" "$(fingerprint "$work/drill.duckdb")")" = True ]; then
    term_ok=1
  fi
  failures=$((failures + torn + unrecorded + (readers - read_ok) + (kills - readers) + (previous - rerun_ok) + 1 - term_ok))
  printf '%-13s %6s %6s %9s %9s %6s %11s %8s %8s %8s\n' "$name" "$kills" "$opens" "$previous" "$complete" "$torn" \
    "$unrecorded" "$rerun_ok/$previous" "$read_ok/$kills" "$term_ok/1"
done

# Export kills: a lake holding the base file's export, then an export of a
# file with 5 more days, killed between two tables, before the manifest and
# at moments spread over its run. A reader must find the previous export or
# the new one, whole (users, events, loads together), and the rerun the new.
fresh "$work/next.duckdb"
"$bin" --db "$work/next.duckdb" generate --append-days 5 >/dev/null 2>&1
rm -rf "$work/lake0"
"$bin" --db "$base" -q export --out "$work/lake0" users events loads >/dev/null 2>&1
old=$(counts_of_lake "$work/lake0" users events loads)
start=$(date +%s.%N)
rm -rf "$work/xlake" && cp -r "$work/lake0" "$work/xlake"
"$bin" --db "$work/next.duckdb" -q export --out "$work/xlake" users events loads >/dev/null 2>&1
seconds=$(echo "$(date +%s.%N) - $start" | bc)
new=$(counts_of_lake "$work/xlake" users events loads)
if [ "$short" = 1 ]; then
  modes=("f:between-tables")
else
  modes=("f:between-tables" "f:before-manifest" "t0.2" "t0.4" "t0.6" "t0.8" "t0.95")
fi
xkills=0 xold=0 xnew=0 xmixed=0 xrerun=0
for mode in "${modes[@]}"; do
  rm -rf "$work/xlake" && cp -r "$work/lake0" "$work/xlake"
  {
  if [[ $mode == t* ]]; then
    "$bin" --db "$work/next.duckdb" -q export --out "$work/xlake" users events loads >/dev/null 2>&1 &
    pid=$!
    sleep "$(echo "$seconds * ${mode#t}" | bc -l)"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  else
    CHURN_TEST_FAULT="${mode#f:}:export" "$bin" --db "$work/next.duckdb" -q export --out "$work/xlake" users events loads \
      >/dev/null 2>&1 || true
  fi
  } 2>/dev/null
  xkills=$((xkills + 1))
  seen=$(counts_of_lake "$work/xlake" users events loads 2>/dev/null || echo unreadable)
  case "$seen" in
    "$old") xold=$((xold + 1)) ;;
    "$new") xnew=$((xnew + 1)) ;;
    *) xmixed=$((xmixed + 1)) ;;
  esac
  "$bin" --db "$work/next.duckdb" -q export --out "$work/xlake" users events loads >/dev/null 2>&1 || true
  [ "$(counts_of_lake "$work/xlake" users events loads 2>/dev/null)" = "$new" ] && xrerun=$((xrerun + 1))
done
echo
echo "export: $xkills kills of a 3-table export; a reader found the previous export $xold times, the new one $xnew, a mix or nothing $xmixed; reruns complete $xrerun/$xkills"
failures=$((failures + xmixed + xkills - xrerun))

# The flood: stalled POSTs (headers and one byte of body) and silent
# connections, against a server whose header timeout is 3 s.
port=$((20000 + RANDOM % 20000))
CHURN_SERVE_HEADER_TIMEOUT_S=3 "$bin" --db "$base" serve --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
flood=$("$python" - "$port" "$short" <<'PY'
import socket, sys, time, urllib.request
port, short = int(sys.argv[1]), sys.argv[2] == "1"
url = f"http://127.0.0.1:{port}"
for _ in range(100):
    try:
        urllib.request.urlopen(url + "/ready", timeout=1); break
    except Exception:
        time.sleep(0.2)
n = 300 if short else 600
stalled = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for s in stalled:
    s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
time.sleep(1)
worst, failed = 0.0, 0
for _ in range(5):
    for path in ("/health", "/live", "/ready"):
        t = time.time()
        try:
            urllib.request.urlopen(url + path, timeout=5)
        except Exception:
            failed += 1
        worst = max(worst, time.time() - t)
# Within the header timeout (3 s) and a margin, every silent one is closed.
time.sleep(5)
closed = 0
for s in silent:
    s.settimeout(0.5)
    try:
        closed += s.recv(1) == b""
    except OSError:
        closed += 1
print(n, failed, f"{worst * 1000:.1f}", closed)
PY
)
kill "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true
server=""
read -r n failed worst closed <<<"$flood"
echo
echo "flood: $n stalled POSTs and $n silent connections; /health, /live, /ready x5 each: $failed failed, slowest ${worst} ms; silent ones closed within 8 s: $closed/$n"
failures=$((failures + failed + n - closed))
echo "($users users, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD); kills: -9 or an abort at the commit hook)"
[ "$failures" -eq 0 ]
