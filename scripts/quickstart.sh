#!/usr/bin/env bash
# The README's quick start, as a new user follows it: clones this repository
# into a fresh folder, runs each line of the README's "Quick start" block
# there in order, and checks what each line says it gives. Fails on a line
# it has no check for, so the README cannot gain a step nobody verifies.
# `make test` is left to CI (which runs the suite itself); `make install`
# goes to a temporary prefix put first on PATH, not ~/.local.
#   bash scripts/quickstart.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
git clone -q "$root" "$work/churn"
cd "$work/churn"
prefix="$work/prefix"
export PATH="$prefix/bin:$PATH"
# The block's lines, a continued line (ending in \) joined to the next.
mapfile -t lines < <(python3 - "$root/README.md" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
block = re.search(r"## Quick start\n.*?```sh\n(.*?)```", text, re.S).group(1)
joined = block.replace("\\\n", " ")
for line in joined.splitlines():
    if line.strip() and not line.lstrip().startswith("#"):
        print(line)
PY
)
[ "${#lines[@]}" -gt 0 ] || { echo "quickstart: no Quick start block in README.md" >&2; exit 1; }
: >"$work/out"
fail() { echo "quickstart: $1" >&2; echo "--- output:" >&2; cat "$work/out" >&2; exit 1; }
step=0
for line in "${lines[@]}"; do
  step=$((step + 1))
  command=$(printf '%s' "$line" | sed 's/[[:space:]]#.*$//; s/[[:space:]]*$//')
  echo "quickstart $step: $command" >&2
  case "$command" in
    "make run")
      make run >"$work/out" 2>&1 || fail "make run failed"
      grep -q "OK=11 WARN=0 FAIL=0 ERROR=0 SKIP=0 TOTAL=11" "$work/out" || fail "make run's summary is not OK=11 ... TOTAL=11"
      # The README's model figures are this default run's.
      bash bench/readme-figures.sh --check data/churn.duckdb >"$work/out" 2>&1 \
        || fail "README.md's figures are not the default run's: bash bench/readme-figures.sh --write"
      ;;
    "make test")
      echo "  (left to CI, which runs the test suite itself)" >&2
      ;;
    "make install")
      make install PREFIX="$prefix" >"$work/out" 2>&1 || fail "make install failed"
      [ "$(command -v churn)" = "$prefix/bin/churn" ] || fail "churn is not the installed binary"
      [ -f "$prefix/lib/churn/libduckdb.so" ] || fail "libduckdb.so is not in PREFIX/lib/churn"
      ;;
    "churn status")
      churn status >"$work/out" 2>&1 || fail "churn status failed"
      grep -q "predictions" "$work/out" && grep -q "evaluate" "$work/out" || fail "churn status lacks the tables or the runs"
      ;;
    "churn report")
      churn report >"$work/out" 2>"$work/err" || { cat "$work/err" >>"$work/out"; fail "churn report failed"; }
      page=$(tail -1 "$work/out")
      case "$page" in reports/churn-report-*.html) ;; *) fail "churn report did not print reports/churn-report-<time>.html" ;; esac
      grep -q "Highest risk users" "$page" && grep -q 'id="summary"' "$page" || fail "$page lacks the summary or the risk list"
      ;;
    "churn serve &")
      churn serve >"$work/serve.log" 2>&1 &
      server=$!
      ;;
    "churn probe http://127.0.0.1:8000/ready")
      for _ in $(seq 120); do
        if churn probe http://127.0.0.1:8000/ready >"$work/out" 2>&1; then break; fi
        sleep 0.5
      done
      churn probe http://127.0.0.1:8000/ready >"$work/out" 2>&1 || fail "the server never became ready"
      ;;
    curl*/users/*/risk)
      eval "$command" >"$work/out" || fail "$command failed"
      python3 - "$work/out" <<'PY' || fail "the user is not rank 1 with reasons"
import json, sys
v = json.load(open(sys.argv[1]))
assert v["risk_rank"] == 1, v
assert 0 < v["churn_risk"] < 1, v
assert v["reasons"] and all(r["contribution"] > 0 and r["reason"] for r in v["reasons"]), v
PY
      ;;
    curl*/predict\?explain=true*)
      eval "$command" >"$work/out" || fail "$command failed"
      python3 - "$work/out" <<'PY' || fail "the prediction has no risk or no reasons"
import json, sys
v = json.load(open(sys.argv[1]))
assert 0 < v["churn_risk"] < 1, v
assert isinstance(v["reasons"], list) and v["reasons"], v
assert all(r["reason"] for r in v["reasons"]), v
PY
      ;;
    "kill %1")
      [ -n "$server" ] || fail "no server to stop"
      kill "$server"
      wait "$server" || fail "the server did not exit 0 on SIGTERM"
      server=""
      ;;
    *)
      fail "no check for the README line: $command (add one to scripts/quickstart.sh)"
      ;;
  esac
done
echo "quickstart: ${#lines[@]} lines of the README's quick start ran in a fresh clone, each as documented" >&2
