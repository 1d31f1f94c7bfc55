#!/usr/bin/env bash
# Runs bench/sklearn_parity.py in its own venv (duckdb 1.5.6, numpy, scikit-learn).
# Usage: bench/sklearn_parity.sh [DB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/bench/.venv"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet duckdb==1.5.6 numpy scikit-learn
fi
exec "$venv/bin/python" "$root/bench/sklearn_parity.py" "${1:-$root/data/churn.duckdb}"
