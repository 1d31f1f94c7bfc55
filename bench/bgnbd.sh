#!/usr/bin/env bash
# Runs bench/bgnbd.py (BG/NBD, the standard model of purchase logs, beside
# the production model on its own test rows) in its own venv from PyPI:
# lifetimes, duckdb 1.5.6, scikit-learn. Usage: bench/bgnbd.sh [DB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${XDG_CACHE_HOME:-$HOME/.cache}/churn/bgnbd-venv"
tools="lifetimes==0.11.3 duckdb==1.5.6 scikit-learn==1.7.2 pandas==2.2.3"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.tools" 2>/dev/null)" != "$tools" ]; then
  echo "bgnbd: installing $tools into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet $tools
  echo "$tools" > "$venv/.tools"
fi
exec "$venv/bin/python" "$root/bench/bgnbd.py" "${1:-$root/data/churn.duckdb}"
