#!/usr/bin/env bash
# A release tarball of churn: dist/churn-VERSION-linux-x86_64.tar.gz with
# bin/churn, lib/churn/libduckdb.so (found by the binary's rpath
# $ORIGIN/../lib/churn), LICENSE, README.md, CHANGELOG.md and
# churn.example.toml; and dist/…tar.gz.sha256. Checks the unpacked binary
# loads the library it ships and runs (`churn --version`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# On its tag (vX.Y.Z, which must be Cargo.toml's version) the tarball is the
# release; elsewhere it says how far past the last tag it is
# (0.1.0-12-gabc1234, as `git describe` puts it).
described=$(git describe --tags --match 'v*' 2>/dev/null || true)
case "$described" in
  "v$version") ;;
  v*-*-g*) version=${described#v} ;;
  "") ;;
  *) echo "dist: the tag $described is not Cargo.toml's version $version; set one to the other" >&2; exit 1 ;;
esac
name="churn-$version-linux-x86_64"
cargo build --release --locked
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/$name/bin" "$work/$name/lib/churn" dist
install -m755 "$target/release/churn" "$work/$name/bin/churn"
install -m644 .duckdb-lib/libduckdb.so "$work/$name/lib/churn/libduckdb.so"
cp LICENSE README.md CHANGELOG.md churn.example.toml "$work/$name/"
tar -C "$work" --owner=0 --group=0 --sort=name -czf "dist/$name.tar.gz" "$name"
(cd dist && sha256sum "$name.tar.gz" > "$name.tar.gz.sha256")
# The unpacked tarball, as a user gets it: its binary must load its own
# libduckdb (not the clone's) and run.
mkdir "$work/check"
tar -C "$work/check" -xzf "dist/$name.tar.gz"
unpacked="$work/check/$name"
loaded=$(ldd "$unpacked/bin/churn" | awk '/libduckdb/ {print $3}')
case "$loaded" in
  "$unpacked"/*) ;;
  *) echo "dist: the unpacked binary loads libduckdb from ${loaded:-nowhere}, not from its tarball" >&2; exit 1 ;;
esac
"$unpacked/bin/churn" --version >/dev/null
echo "dist: dist/$name.tar.gz ($(du -h "dist/$name.tar.gz" | cut -f1)), sha256 $(cut -d' ' -f1 "dist/$name.tar.gz.sha256")"
