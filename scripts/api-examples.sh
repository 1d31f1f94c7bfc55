#!/usr/bin/env bash
# The API examples of docs/api.md, from a real server: serves a DuckDB file
# (default data/churn.duckdb, as `make run` leaves it) with the release
# build, sends the documented requests, and writes the answers between the
# api-examples markers of docs/api.md with the date and commit.
#   bash scripts/api-examples.sh [DB]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
db=${1:-data/churn.duckdb}
bin=${BENCH_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/churn}
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
work=$(mktemp -d)
"$bin" --db "$db" serve --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 120); do "$bin" probe "$base/ready" >/dev/null 2>&1 && break; sleep 0.5; done
top=$(python3 - "$base" <<'PY'
import json, sys, urllib.request
# The riskiest user of the served slice: the report's rank 1.
report = urllib.request.urlopen(sys.argv[1] + "/report").read().decode()
import re
print(re.search(r'<td class="num">1</td><td><code>([^<]+)</code>', report).group(1))
PY
)
predict='{"user_id": "me", "features": {"days_since_last_activity": 12, "events_30d": 20, "plan": "free"}}'
bad='{"user_id": 1, "features": {"active_days_7d": "three", "logins_7d": NaN, "colour": "red"}}'
{
  echo "\$ curl -s localhost:8000/ready"
  curl -s "$base/ready"; echo
  echo "\$ curl -s -X POST 'localhost:8000/predict?explain=true' -H 'content-type: application/json' -d '$predict'"
  curl -s -X POST "$base/predict?explain=true" -H 'content-type: application/json' -d "$predict" \
    | python3 -c "import json,sys; v=json.load(sys.stdin); n=len(v['imputed']); v['imputed']=v['imputed'][:4]+([f'... {n-4} more'] if n>4 else []); print(json.dumps(v))"
  echo "\$ curl -s -X POST localhost:8000/predict -H 'content-type: application/json' -d '$bad'"
  code=$(curl -s -o "$work/bad" -w '%{http_code}' -X POST "$base/predict" -H 'content-type: application/json' -d "$bad")
  echo "$(cat "$work/bad") (HTTP $code)"
  echo "\$ curl -s localhost:8000/users/$top/risk"
  curl -s "$base/users/$top/risk"; echo
  echo "\$ curl -s localhost:8000/metrics | grep churn_api_requests_total"
  curl -s "$base/metrics" | grep '^churn_api_requests_total' | sort
} >"$work/block"
kill "$server"; wait "$server" || { echo "api-examples: the server did not exit 0 on SIGTERM" >&2; exit 1; }
server=""
python3 - docs/api.md "$work/block" "$(date -u +%Y-%m-%d)" "$(git rev-parse --short HEAD)" "$db" <<'PY'
import re, sys
path, block, day, commit, db = sys.argv[1:]
text = open(path, encoding="utf-8").read()
body = open(block, encoding="utf-8").read().rstrip("\n")
new = (f"<!-- api-examples:start -->\nReal output of `bash scripts/api-examples.sh` ({day}, commit {commit}; "
       f"release build serving {db} as `make run` leaves it; the imputed list is cut short):\n\n"
       f"```\n{body}\n```\n\nAfter SIGTERM the server drained and exited with code 0.\n<!-- api-examples:end -->")
out, n = re.subn(r"<!-- api-examples:start -->.*?<!-- api-examples:end -->", lambda m: new, text, flags=re.S)
if n != 1:
    sys.exit("api-examples: docs/api.md lacks the api-examples markers")
open(path, "w", encoding="utf-8").write(out)
PY
echo "api-examples: docs/api.md updated" >&2
