#!/usr/bin/env bash
# Runs bench/transforms.py in its own venv (duckdb 1.5.6, numpy, pandas,
# scikit-learn, lightgbm): each candidate input transform on a user-grouped
# validation split of the training window, with LightGBM beside them.
#   bash bench/transforms.sh [DB]   (default data/churn.duckdb, after `churn run`)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/bench/.venv-transforms"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet duckdb==1.5.6 numpy pandas scikit-learn lightgbm
fi
exec "$venv/bin/python" "$root/bench/transforms.py" "${1:-$root/data/churn.duckdb}"
