#!/usr/bin/env bash
# Runs bench/features_variants.py: the features statement beside rewrites of
# it (no decimals; integer window sums packed two or four to a number) on a
# slice of a file's users, each one's seconds and the rows that differ.
#   bash bench/features-variants.sh DB [LAST_USER]
# The churn binary is CHURN_BIN, else `churn` on PATH, else the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
if [ -z "${CHURN_BIN:-}" ]; then
  if command -v churn >/dev/null; then CHURN_BIN=$(command -v churn); else CHURN_BIN=$(bench_bin); fi
fi
export CHURN_BIN
exec "$(bench_python)" bench/features_variants.py "$@"
