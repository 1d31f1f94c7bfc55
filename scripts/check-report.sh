#!/usr/bin/env bash
# Renders a churn HTML report in headless Chromium (Debian's package) to a PNG
# and fails on a console error or on anything the page would fetch from the
# network (the report must be self-contained).
#   bash scripts/check-report.sh REPORT.html [OUT.png] [HEIGHT]
set -euo pipefail
report=${1:?usage: check-report.sh REPORT.html [OUT.png] [HEIGHT]}
out=${2:-${report%.html}.png}
height=${3:-5200}
[ -f "$report" ] || { echo "check-report: $report does not exist; write one with \`churn report\`" >&2; exit 1; }

browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "check-report: installing Debian's chromium" >&2
  if [ "$(id -u)" -eq 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
  fi
  browser=$(command -v chromium)
fi

# Self-contained: no external scripts, styles, fonts or images.
if grep -Eq '(src|href)="(https?:)?//|@import|url\(' "$report"; then
  echo "check-report: $report refers to an external resource:" >&2
  grep -Eno '(src|href)="(https?:)?//[^"]*"|@import[^;]*|url\([^)]*\)' "$report" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s.%N)
# Network off (a proxy that does not exist): a fetch would fail and log.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --proxy-server=127.0.0.1:9 --enable-logging=stderr --v=0 \
  --window-size="1280,$height" --screenshot="$out" \
  "file://$(realpath "$report")" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
end=$(date +%s.%N)
if grep -E 'CONSOLE|Uncaught|ERR_' "$log" | grep -v 'dbus' >&2; then
  echo "check-report: the page logged errors (above)" >&2
  exit 1
fi
[ -s "$out" ] || { echo "check-report: no screenshot written" >&2; cat "$log" >&2; exit 1; }
printf 'check-report: %s -> %s (%s bytes, %.1f s)\n' "$report" "$out" "$(stat -c %s "$out")" "$(echo "$end - $start" | bc)"
