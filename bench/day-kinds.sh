#!/usr/bin/env bash
# Runs bench/day_kinds.py in the venv of the model screens (duckdb 1.5.6, numpy,
# pandas, scikit-learn, lightgbm; bench/lib.sh):
# the day terms marking any event, a login or a payment, on the validation
# split and the test rows of a trained file.
#   bash bench/day-kinds.sh [DB]   (default data/churn.duckdb, after `churn run`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
exec "$(bench_sklearn_python)" "$root/bench/day_kinds.py" "${1:-$root/data/churn.duckdb}"
