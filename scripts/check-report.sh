#!/usr/bin/env bash
# A churn HTML report as a browser draws it, in headless Chromium (Debian's
# package): fails on anything the page would fetch from the network (the
# report must be self-contained), on a console error, and on text that
# leaves its box (a page wider than the window, a cell's text past its card,
# a chart's label outside its SVG or over another label); writes a
# screenshot.
#   bash scripts/check-report.sh [REPORT.html] [OUT.png] [HEIGHT]
# Without a report (CI), runs the pipeline on 1,500 users with BENCH_BIN
# (default: the debug build) and checks its report; the screenshot goes to
# OUT.png (default: beside the report, or target/report-check.png).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
report=${1:-}
shot=${2:-}
height=${3:-5200}
target=${CARGO_TARGET_DIR:-$root/target}
bin=${BENCH_BIN:-$target/debug/churn}
if [ -n "$report" ]; then
  [ -f "$report" ] || { echo "check-report: $report does not exist; write one with \`churn report\`" >&2; exit 1; }
  report=$(realpath "$report")
  shot=${shot:-${report%.html}.png}
fi
shot=${shot:-$root/target/report-check.png}
browser=$(command -v chromium-headless-shell || command -v chromium || true)
if [ -z "$browser" ]; then
  echo "check-report: installing chromium-headless-shell (apt)" >&2
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
  $sudo apt-get install -y -qq chromium-headless-shell fonts-dejavu-core >/dev/null
  browser=$(command -v chromium-headless-shell)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -z "$report" ]; then
  CHURN_GENERATE_USERS=1500 "$bin" --db "$work/r.duckdb" -q run >/dev/null 2>"$work/run.log" \
    || [ $? -eq 2 ] || { cat "$work/run.log" >&2; exit 1; }
  report=$("$bin" --db "$work/r.duckdb" report --out "$work" 2>/dev/null)
fi

# Self-contained: no external scripts, styles, fonts or images.
if grep -Eq '(src|href)="(https?:)?//|@import|url\(' "$report"; then
  echo "check-report: $report refers to an external resource:" >&2
  grep -Eno '(src|href)="(https?:)?//[^"]*"|@import[^;]*|url\([^)]*\)' "$report" >&2
  exit 1
fi
# The checks run in the page once it has laid out, and write their findings
# into it for --dump-dom to carry out.
python3 - "$report" "$work/page.html" <<'PY'
import sys
html = open(sys.argv[1], encoding="utf-8").read()
check = r"""
<script>
window.addEventListener("load", () => {
  const problems = [];
  const name = (el) => (el.id ? "#" + el.id : el.tagName.toLowerCase()) +
    (el.closest("[id]") ? " in #" + el.closest("[id]").id : "");
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1)
    problems.push(`the page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px window`);
  // Text past the right edge of its card.
  for (const card of document.querySelectorAll(".card")) {
    const box = card.getBoundingClientRect();
    for (const el of card.querySelectorAll("td, th, p, li, h2, h3, figcaption, caption, div")) {
      const r = el.getBoundingClientRect();
      if (r.width > 0 && r.right > box.right + 1)
        problems.push(`${name(el)} ends ${Math.round(r.right - box.right)}px past its card: ${el.textContent.trim().slice(0, 60)}`);
    }
  }
  // Chart labels inside their SVG and clear of each other.
  for (const svg of document.querySelectorAll("svg")) {
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll("text")].map((t) => [t, t.getBoundingClientRect()]);
    for (const [t, r] of texts) {
      if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
        problems.push(`label "${t.textContent}" leaves its chart ${svg.getAttribute("aria-label")}`);
    }
    for (let i = 0; i < texts.length; i++)
      for (let j = i + 1; j < texts.length; j++) {
        const [a, ra] = texts[i], [b, rb] = texts[j];
        const w = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
        const h = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
        if (w > 1 && h > 1)
          problems.push(`labels "${a.textContent}" and "${b.textContent}" overlap in ${svg.getAttribute("aria-label")}`);
      }
  }
  const out = document.createElement("pre");
  out.id = "layout-check";
  out.textContent = JSON.stringify({ checked: document.querySelectorAll("svg").length, problems });
  document.body.appendChild(out);
});
</script>
"""
open(sys.argv[2], "w", encoding="utf-8").write(html.replace("</body>", check + "</body>"))
PY
# Network off (a proxy that does not exist): a fetch would fail and log.
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --proxy-server=127.0.0.1:9)
# Headless Chromium now and then dies at start (a crash of its own, exit
# 139, seen once in CI): each call gets three tries, and a failure says so.
browse() {
  local out=$1 rc=0
  shift
  for _ in 1 2 3; do
    rc=0
    "$browser" "${flags[@]}" "$@" >"$out" 2>>"$work/browser.log" && return 0 || rc=$?
    echo "check-report: chromium exited $rc; trying again" >&2
    sleep 1
  done
  echo "check-report: chromium failed three times (exit $rc):" >&2
  tail -20 "$work/browser.log" >&2
  exit 1
}
browse "$work/dom.html" --window-size=1280,900 --virtual-time-budget=3000 --dump-dom "file://$work/page.html"
result=$(python3 - "$work/dom.html" <<'PY'
import html, json, re, sys
m = re.search(r'<pre id="layout-check">(.*?)</pre>', open(sys.argv[1], encoding="utf-8").read(), re.S)
print(html.unescape(m.group(1)) if m else '{"checked": 0, "problems": ["the checks did not run"]}')
PY
)
mkdir -p "$(dirname "$shot")"
browse "$work/shot.out" --window-size="1280,$height" --screenshot="$shot" "file://$report"
# The page's own log: a second load with logging on (stderr).
: >"$work/browser.log"
browse "$work/log" --enable-logging=stderr --v=0 --window-size=1280,900 --dump-dom "file://$report"
if grep -E 'CONSOLE|Uncaught|ERR_' "$work/browser.log" | grep -v 'dbus' >&2; then
  echo "check-report: the page logged errors (above)" >&2
  exit 1
fi
[ -s "$shot" ] || { echo "check-report: no screenshot written" >&2; cat "$work/browser.log" >&2; exit 1; }
python3 - "$result" "$shot" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"check-report: self-contained, no console error; {r['checked']} charts and every card laid out: "
      f"{len(r['problems'])} problems; screenshot {sys.argv[2]}")
for p in r["problems"]:
    print("  " + p)
sys.exit(1 if r["problems"] or r["checked"] == 0 else 0)
PY
