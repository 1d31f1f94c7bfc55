# Sourced by the bench scripts (after `cd` to the repository): the build
# they time and the Python they check with.

# The churn binary: $BENCH_BIN, or the release build (DuckDB's library
# fetched first). Build output goes to stderr.
bench_bin() {
  if [ -n "${BENCH_BIN:-}" ]; then
    echo "$BENCH_BIN"
    return
  fi
  bash scripts/fetch-duckdb.sh >&2
  cargo build --release --quiet >&2
  echo "${CARGO_TARGET_DIR:-$PWD/target}/release/churn"
}

# The churn binary the Python checks call, exported as CHURN_BIN: as given,
# else `churn` on PATH, else the release build.
export_churn_bin() {
  if [ -z "${CHURN_BIN:-}" ]; then
    if command -v churn >/dev/null; then CHURN_BIN=$(command -v churn); else CHURN_BIN=$(bench_bin); fi
  fi
  export CHURN_BIN
}

# A Python with the duckdb package of the linked version (1.5.6), in a venv
# cached under ~/.cache/churn/bench-venv.
bench_python() {
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/churn/bench-venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import duckdb' 2>/dev/null; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet duckdb==1.5.6 >&2
  fi
  echo "$venv/bin/python"
}

# A Python with duckdb 1.5.6, numpy, pandas, scikit-learn and lightgbm (the
# model screens: transforms.sh, day-kinds.sh), in bench/.venv-transforms.
bench_sklearn_python() {
  local venv
  venv="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/.venv-transforms"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet duckdb==1.5.6 numpy pandas scikit-learn lightgbm >&2
  fi
  echo "$venv/bin/python"
}

# The line that dates a figure: the day, the checkout's commit and the
# cores; with $BENCH_BIN, which build ran (another build than the
# checkout's, perhaps).
bench_stamp() {
  local build=""
  [ -n "${BENCH_BIN:-}" ] && build=", build $BENCH_BIN"
  echo "($(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)$build, $(nproc) cores)"
}
