#!/usr/bin/env bash
# Runs bench/transforms.py in the venv of the model screens (duckdb 1.5.6, numpy,
# pandas, scikit-learn, lightgbm; bench/lib.sh):
# each candidate input transform on a user-grouped validation split of the
# training window, with LightGBM beside them.
#   bash bench/transforms.sh [DB]   (default data/churn.duckdb, after `churn run`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/lib.sh"
exec "$(bench_sklearn_python)" "$root/bench/transforms.py" "${1:-$root/data/churn.duckdb}"
