#!/usr/bin/env bash
# Property-based tests of the API against its own OpenAPI document
# (schemathesis, PyPI): a small pipeline, `churn serve` on a free loopback
# port with a bearer token, then every route fuzzed with generated and
# mutated requests. Fails on any 5xx or any answer that does not match the
# document (status, content type, headers, schema).
#   bash scripts/schemathesis.sh [SECONDS]     (default 120 of fuzzing)
set -euo pipefail
seconds=${1:-120}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv="${XDG_CACHE_HOME:-$HOME/.cache}/churn/schemathesis-venv"
tools="schemathesis==4.32.5"
if [ ! -x "$venv/bin/schemathesis" ] || [ "$(cat "$venv/.tools" 2>/dev/null)" != "$tools" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "$tools"
  echo "$tools" > "$venv/.tools"
fi
bash scripts/fetch-duckdb.sh
cargo build --release --quiet
bin="${CARGO_TARGET_DIR:-$root/target}/release/churn"
work=$(mktemp -d)
server=""
cleanup() { [ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/churn.toml" <<'TOML'
[generate]
users = 300
days = 120
churn_base_rate = 0.15
pre_churn_decay_days = 10
[features]
windows = [7, 14]
[labels]
horizon_days = 14
inactive_days = 14
[promote]
min_lift_over_baseline = -1.0
max_ece = 1.0
TOML
"$bin" --db "$work/churn.duckdb" --config "$work/churn.toml" run >/dev/null 2>&1 || [ $? -eq 2 ]
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=st-$RANDOM$RANDOM
CHURN_SERVE_TOKEN=$token "$bin" --db "$work/churn.duckdb" --config "$work/churn.toml" -q \
  serve --addr "127.0.0.1:$port" &
server=$!
"$bin" probe "http://127.0.0.1:$port/ready" --timeout-s 30 >/dev/null 2>&1 \
  || { sleep 2; "$bin" probe "http://127.0.0.1:$port/ready" --timeout-s 30; }
"$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
  --checks all \
  --exclude-checks positive_data_acceptance,ignored_auth \
  --header "Authorization: Bearer $token" \
  --max-time "$seconds" \
  --workers 2 \
  --suppress-health-check all \
  --report junit --report-dir "$work/report" "${@:2}"
