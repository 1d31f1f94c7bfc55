#!/usr/bin/env bash
# Runs bench/features_variants.py: the features statement beside rewrites of
# it (no decimals; integer window sums packed two or four to a number) on a
# slice of a file's users, each one's seconds and the rows that differ.
#   bash bench/features-variants.sh DB [LAST_USER]
# The churn binary is CHURN_BIN, else `churn` on PATH, else the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
export_churn_bin
exec "$(bench_python)" bench/features_variants.py "$@"
