#!/usr/bin/env bash
# The Spark test environment (#22), installed once and cached: Java 17
# (Debian's openjdk-17-jre-headless, when no java 17+ is on the PATH) and
# pyspark from PyPI in a venv in ~/.cache/churn/spark-venv. Prints the path of
# spark-sql, which the Spark parity test reads from CHURN_SPARK_SQL:
#   export CHURN_SPARK_SQL=$(bash scripts/spark-env.sh)
#   cargo test --test integration spark:: -- --ignored --nocapture
set -euo pipefail

java_major() {
  java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1
}
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
  echo "spark-env: installing Debian's openjdk-17-jre-headless" >&2
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless >/dev/null
fi

venv="${XDG_CACHE_HOME:-$HOME/.cache}/churn/spark-venv"
tools="pyspark==4.0.1"
stamp="$venv/.tools"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$tools" ]; then
  echo "spark-env: installing $tools into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet $tools
  echo "$tools" > "$stamp"
fi
spark_home=$("$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')
test -x "$spark_home/bin/spark-sql"
echo "$spark_home/bin/spark-sql"
