# The two commands of a fresh machine: `make run` and `make test`.
# Both fetch DuckDB's prebuilt library once (scripts/fetch-duckdb.sh).

.PHONY: run test test-spark test-cdnow duckdb bench

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
