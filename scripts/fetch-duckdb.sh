#!/usr/bin/env bash
# Fetch DuckDB 1.5.6's official prebuilt shared library once, into .duckdb-lib/.
#
# DuckDB publishes libduckdb.so (parquet, json and icu built in) inside its npm
# package @duckdb/node-bindings-linux-x64. Linking it spares compiling DuckDB
# from source (cargo feature `bundled`, about 40 minutes on two cores). The
# download is cached in ~/.cache/churn so fresh clones copy it.
set -euo pipefail

version="1.5.6-r.1"
sha256="3f4962cdd266eab2b479a5b5a4a6d063d279b2954ae814ed00385d553b747633"
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.duckdb-lib"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/churn/duckdb-$version"

have() { [ -f "$1" ] && echo "$sha256  $1" | sha256sum --check --status; }

if ! have "$cache/libduckdb.so" && have "$dest/libduckdb.so"; then
  mkdir -p "$cache"
  cp "$dest/libduckdb.so" "$cache/libduckdb.so"
fi
if ! have "$cache/libduckdb.so"; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *) echo "fetch-duckdb: only linux-x86_64 has a pinned prebuilt library; build with --features bundled instead" >&2; exit 1 ;;
  esac
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "fetch-duckdb: downloading @duckdb/node-bindings-linux-x64@$version" >&2
  if command -v npm >/dev/null; then
    (cd "$tmp" && npm pack --silent "@duckdb/node-bindings-linux-x64@$version" >/dev/null)
  elif command -v curl >/dev/null; then
    # The same tarball npm would fetch, straight from the registry.
    curl -fsSL --retry 3 -o "$tmp/package.tgz" \
      "https://registry.npmjs.org/@duckdb/node-bindings-linux-x64/-/node-bindings-linux-x64-$version.tgz"
  else
    echo "fetch-duckdb: npm or curl is needed to fetch the library (apt-get install curl), or build with --features bundled" >&2
    exit 1
  fi
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/libduckdb.so
  if ! have "$tmp/package/libduckdb.so"; then
    echo "fetch-duckdb: checksum mismatch for libduckdb.so $version; refusing to use it" >&2
    exit 1
  fi
  mkdir -p "$cache"
  mv "$tmp/package/libduckdb.so" "$cache/libduckdb.so"
fi
if ! have "$dest/libduckdb.so"; then
  mkdir -p "$dest"
  cp "$cache/libduckdb.so" "$dest/libduckdb.so.tmp"
  mv "$dest/libduckdb.so.tmp" "$dest/libduckdb.so"
  echo "fetch-duckdb: libduckdb.so $version ready in $dest" >&2
fi
