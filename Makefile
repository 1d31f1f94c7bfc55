# The two commands of a fresh machine: `make run` and `make test`.
# Both fetch DuckDB's prebuilt library once (scripts/fetch-duckdb.sh).

.PHONY: run test duckdb bench

duckdb:
	@bash scripts/fetch-duckdb.sh

# The whole pipeline on the embedded default config, into data/churn.duckdb.
run: duckdb
	cargo run --release -- run --to score

test: duckdb
	cargo test

bench: duckdb
	bash bench/pipeline.sh 2000
