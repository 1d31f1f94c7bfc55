# The two commands of a fresh machine: `make run` and `make test`.
# Both fetch DuckDB's prebuilt library once (scripts/fetch-duckdb.sh).

.PHONY: run test duckdb bench

duckdb:
	@bash scripts/fetch-duckdb.sh

# The whole pipeline on the embedded default config, into data/churn.duckdb.
# Exit 2 is the drift check's FAIL (reported above it), not a failed run.
run: duckdb
	cargo run --release -- run || { rc=$$?; [ $$rc -eq 2 ] && echo "churn: drift FAIL reported (exit 2); the pipeline ran"; [ $$rc -eq 2 ]; }

test: duckdb
	cargo test

bench: duckdb
	bash bench/pipeline.sh 2000
