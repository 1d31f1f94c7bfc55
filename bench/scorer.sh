#!/usr/bin/env bash
# The two scorers side by side on one scored file: the score stage (Rust, the
# model read from model_terms, rows streamed out of DuckDB and appended back)
# and the same model in plain SQL (`churn sql score`, what Spark runs), run by
# DuckDB on the same file into a temp table. Prints each one's wall seconds
# and peak RSS (median of RUNS), the rows scored and the largest difference
# between the two risks. The SQL side ranks its rows as the stage does but
# writes no table: it is the scoring alone, the stage is the whole command.
#   bash bench/scorer.sh FILE.duckdb [RUNS]     (FILE: a file `churn run` made)
#   BENCH_BIN=PATH runs another build. Needs python3; installs the duckdb
#   package of the linked version into a cached venv.
set -euo pipefail
db=${1:?usage: bench/scorer.sh FILE.duckdb [RUNS]}
runs=${2:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${BENCH_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/churn}
venv="${XDG_CACHE_HOME:-$HOME/.cache}/churn/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet duckdb==1.5.6
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" --db "$db" sql score > "$work/score.sql"
# The SQL scorer: score.sql's select, ranked as the stage ranks, into a temp
# table; with "compare", the rows scored by both and the largest difference.
cat > "$work/sql_score.py" <<'PY'
import sys, duckdb
con = duckdb.connect(sys.argv[1])
text = open(sys.argv[2]).read()
select = "\n".join(l for l in text.splitlines() if not l.startswith("--")).strip().rstrip(";")
con.execute(
    "create or replace temp table sql_scored as select *, row_number() over "
    f"(partition by as_of_date order by churn_risk desc, user_id) as risk_rank from ({select})"
)
if sys.argv[3:] == ["compare"]:
    n, diff = con.execute(
        "select count(*), max(abs(s.churn_risk - p.churn_risk)) from sql_scored s "
        "join predictions p using (as_of_date, user_id, model_id)"
    ).fetchone()
    print(f"{n} users scored by both; largest |risk difference| {diff:.3g}")
PY

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for k in $(seq "$runs"); do
  /usr/bin/time -f '%e %M' -o "$work/rust.$k" "$bin" --db "$db" -q run --stage score >/dev/null
  /usr/bin/time -f '%e %M' -o "$work/sql.$k" "$venv/bin/python" "$work/sql_score.py" "$db" "$work/score.sql"
done
for side in rust sql; do
  secs=$(for k in $(seq "$runs"); do tail -1 "$work/$side.$k" | cut -d' ' -f1; done | median)
  kb=$(for k in $(seq "$runs"); do tail -1 "$work/$side.$k" | cut -d' ' -f2; done | median)
  printf '%-5s %6.2f s  %6.2f GB peak RSS\n' "$side" "$secs" "$(echo "$kb / 1048576" | bc -l)"
done
"$venv/bin/python" "$work/sql_score.py" "$db" "$work/score.sql" compare
