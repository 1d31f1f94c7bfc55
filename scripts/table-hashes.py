#!/usr/bin/env python3
"""Print a row count and an order-free content hash of every table in a churn file.

    python3 scripts/table-hashes.py data/churn.duckdb > before.txt

Two runs of the same build at the same seed print the same lines: what differs
between runs by design is left out of the hash (ids made from the clock or a
random suffix, timestamps, JSON that carries them), and doubles are rounded
to --digits decimals (default 9; DuckDB's parallel sums can differ in the last
bit, and a fitted coefficient that differs in its last bits can round either
way at 9: use --digits 6 to compare fits). Used to show that
a restructuring writes the same tables as the build before it:

    diff <(python3 scripts/table-hashes.py old.duckdb) <(python3 scripts/table-hashes.py new.duckdb)

Needs the duckdb Python package of the file's version (pip install duckdb==1.5.6).
"""

import argparse
import hashlib
import json

import duckdb

# Columns whose values come from the clock or a run's random id.
VOLATILE = {
    "run_id",
    "load_id",
    "model_id",
    "previous_model_id",
    "params_json",
    "config_json",
    "table_rows",
    "sample_json",
    "error",
    "reason",
}


def column_expr(name: str, dtype: str, digits: int) -> str | None:
    if name in VOLATILE or dtype.startswith("TIMESTAMP"):
        return None
    quoted = '"' + name.replace('"', '""') + '"'
    if dtype in ("DOUBLE", "FLOAT"):
        return f"round({quoted}, {digits})"
    return quoted


def rounded(value, digits: int):
    """A value with every float in it (JSON included) rounded to `digits`."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, list):
        return [rounded(v, digits) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v, digits) for k, v in sorted(value.items())}
    return value


def json_table_hash(con, table: str, cols, digits: int) -> tuple[int, int]:
    """Row count and hash of a (small) table with JSON columns: the JSON is
    parsed and its floats rounded like the double columns."""
    kept = [(n, t) for n, t in cols if column_expr(n, t, digits) is not None]
    names = ", ".join('"' + n.replace('"', '""') + '"' for n, _ in kept)
    rows = con.execute(f'select {names} from "{table}"').fetchall()
    lines = []
    for row in rows:
        values = []
        for (_, dtype), v in zip(kept, row):
            if dtype == "JSON" and v is not None:
                v = rounded(json.loads(v), digits)
            values.append(rounded(v, digits))
        lines.append(json.dumps(values, default=str, sort_keys=True))
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return len(rows), int(digest[:16], 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--digits", type=int, default=9)
    args = parser.parse_args()
    con = duckdb.connect(args.file, read_only=True)
    tables = [
        r[0]
        for r in con.execute(
            "select table_name from duckdb_tables() where schema_name = 'main' order by table_name"
        ).fetchall()
    ]
    for table in tables:
        cols = con.execute(
            "select column_name, data_type from duckdb_columns() "
            "where schema_name = 'main' and table_name = ? order by column_index",
            [table],
        ).fetchall()
        exprs = [e for e in (column_expr(n, t, args.digits) for n, t in cols) if e is not None]
        if any(t == "JSON" and column_expr(n, t, args.digits) for n, t in cols):
            n, h = json_table_hash(con, table, cols, args.digits)
            print(f"{table}\t{n}\t{h:020d}\t{len(exprs)}/{len(cols)} columns (JSON parsed)")
            continue
        row = "row(" + ", ".join(exprs) + ")" if exprs else "1"
        n, h = con.execute(
            f'select count(*), coalesce(sum(hash({row})::hugeint), 0) % 18446744073709551616 from "{table}"'
        ).fetchone()
        kept = len(exprs)
        print(f"{table}\t{n}\t{h:020d}\t{kept}/{len(cols)} columns")


if __name__ == "__main__":
    main()
