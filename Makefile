# The two commands of a fresh machine: `make run` and `make test`.
# Both fetch DuckDB's prebuilt library once (scripts/fetch-duckdb.sh).

.PHONY: run test test-spark test-cdnow duckdb bench install dist

# Where `make install` puts churn (PREFIX/bin) and its libduckdb
# (PREFIX/lib/churn, which the binary's rpath names relative to itself).
PREFIX ?= $(HOME)/.local
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)

duckdb:
	@bash scripts/fetch-duckdb.sh

# The whole pipeline on the embedded default config, into data/churn.duckdb.
# The default world is a steady state: its drift check ends OK and the run
# exits 0 (exit 2 would be a drift FAIL, reported above it).
run: duckdb
	cargo run --release -- run

test: duckdb
	cargo test

# The Spark parity test (CI runs it too): Java 17 and pyspark in a cached
# venv, every stage's Spark SQL against DuckDB's tables.
test-spark: duckdb
	CHURN_SPARK_SQL=$$(bash scripts/spark-env.sh) cargo test --test integration spark:: -- --ignored --nocapture

# The CDNOW purchase log through train, against BG/NBD's figures (CI runs it).
test-cdnow: duckdb
	CHURN_CDNOW_SAMPLE=$$(bash scripts/cdnow.sh) cargo test --test integration purchase_log:: -- --ignored --nocapture

bench: duckdb
	bash bench/scale.sh 2000

# churn on your PATH: the release build into PREFIX/bin, libduckdb beside it
# in PREFIX/lib/churn.
install: duckdb
	cargo build --release --locked
	install -Dm755 $(TARGET_DIR)/release/churn $(PREFIX)/bin/churn
	install -Dm644 .duckdb-lib/libduckdb.so $(PREFIX)/lib/churn/libduckdb.so
	@echo "installed $(PREFIX)/bin/churn (libduckdb in $(PREFIX)/lib/churn); $(PREFIX)/bin must be on PATH"

# A release tarball: dist/churn-VERSION-linux-x86_64.tar.gz (binary,
# libduckdb, LICENSE, README, CHANGELOG, example config) and its .sha256.
dist: duckdb
	bash scripts/dist.sh
