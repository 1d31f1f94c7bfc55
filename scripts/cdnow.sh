#!/usr/bin/env bash
# The CDNOW sample purchase log (2,357 customers of the CDNOW cohort of
# 1997, 10% of the full log; Fader & Hardie), as the `lifetimes` package on
# PyPI ships it: the wheel is downloaded once (pip download, no install) and
# cached in ~/.cache/churn/cdnow. Prints the path of CDNOW_sample.txt, which
# the purchase-log test reads from CHURN_CDNOW_SAMPLE:
#   export CHURN_CDNOW_SAMPLE=$(bash scripts/cdnow.sh)
#   cargo test --test integration purchase_log:: -- --ignored --nocapture
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/churn/cdnow"
sample="$cache/CDNOW_sample.txt"
if [ ! -s "$sample" ]; then
  echo "cdnow: downloading the lifetimes 0.11.3 wheel for its CDNOW sample" >&2
  mkdir -p "$cache"
  python3 -m venv "$cache/venv"
  "$cache/venv/bin/pip" download --quiet --no-deps --dest "$cache" lifetimes==0.11.3
  "$cache/venv/bin/python" - "$cache" <<'PY'
import glob, sys, zipfile
cache = sys.argv[1]
wheel = glob.glob(f"{cache}/[Ll]ifetimes-0.11.3-*.whl")[0]
with zipfile.ZipFile(wheel) as z, open(f"{cache}/CDNOW_sample.txt", "wb") as out:
    out.write(z.read("lifetimes/datasets/CDNOW_sample.txt"))
PY
fi
echo "$sample"
