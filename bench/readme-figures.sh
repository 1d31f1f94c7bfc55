#!/usr/bin/env bash
# The model figures of README.md from a default run (bench/readme_figures.py):
#   bash bench/readme-figures.sh --check [DB]   exit 1 when README.md differs
#   bash bench/readme-figures.sh --write [DB]   rewrite its figure blocks
# DB defaults to data/churn.duckdb after `make run`; the churn binary is
# CHURN_BIN, else `churn` on PATH, else the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export_churn_bin
exec "$(bench_python)" bench/readme_figures.py "$@"
