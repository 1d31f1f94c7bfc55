"""The features statement beside rewrites of it, on a slice of a file's users.

Usage: bench/features-variants.sh DB [LAST_USER]   (default LAST_USER u014000)

Renders the full build of `user_features_daily` (`churn sql features`),
restricts `user_daily` to the users up to LAST_USER, and times each variant
into a temp table, read-only, one after the other, with DuckDB's
memory_limit at 9 GB:

  template   the statement as the features stage runs it
  doubles    the decimal casts of the exact sums removed (faster, but not
             the same bits: the rows that differ are counted)
  pairs      the eight integer window sums of each window packed two to a
             BIGINT (a + b * 2^32), one window sum per pair, then unpacked
  quads      the same four to a HUGEINT (a + b * 2^32 + c * 2^64 + d * 2^96)

Prints each variant's seconds and the rows in which it differs from the
template, which runs again at the end (its first run also reads the file
cold). Packing is exact while each window sum of a count stays below
2^32; it is measured here, not used.
"""

import os
import re
import subprocess
import sys
import time

import duckdb

db = sys.argv[1]
last_user = sys.argv[2] if len(sys.argv) > 2 else "u014000"
churn = os.environ.get("CHURN_BIN", "churn")
rendered = subprocess.run([churn, "--db", db, "sql", "features"], check=True, capture_output=True,
                          text=True).stdout
body = rendered.replace("create or replace table user_features_daily as", "", 1).rstrip().rstrip(";")
if "    select * from user_daily\n" not in body:
    sys.exit("features-variants: the rendered statement has no `select * from user_daily` to restrict")
body = body.replace("    select * from user_daily\n",
                    f"    select * from user_daily where user_id <= '{last_user}'\n", 1)

COUNTS = {"is_active_day": "active_days", "total_events": "events", "logins_count": "logins",
          "enroll_count": "enroll", "quiz_attempts_count": "quiz_attempts",
          "payment_success_count": "payment_success", "payment_failed_count": "payment_failed",
          "support_ticket_count": "support_ticket"}
windows = sorted({int(w) for w in re.findall(r"over w(\d+)\)", body)})


def packed(sql, per, kind):
    """The integer window sums packed `per` to a `kind`, unpacked after."""
    columns = list(COUNTS)
    groups = [columns[i:i + per] for i in range(0, len(columns), per)]
    unpack = []
    for w in windows:
        sums = []
        for g, group in enumerate(groups):
            for c in group:
                sql, n = re.subn(rf"        \(sum\({c}\) over w{w}\)::integer as {COUNTS[c]}_{w}d,\n", "", sql)
                assert n == 1, (c, w)
            terms = " + ".join(f"{c}::{kind} * {2 ** (32 * i)}::{kind}" for i, c in enumerate(group))
            sums.append(f"        sum({terms}) over w{w} as packed{g}_{w},\n")
            unpack += [f"((packed{g}_{w} // {2 ** (32 * i)}::{kind}) % 4294967296::{kind})::integer as {COUNTS[c]}_{w}d"
                       for i, c in enumerate(group)]
        marker = f"over w{w})::double as payment_amount_{w}d,\n"
        sql = sql.replace(marker, marker + "".join(sums), 1)
    sql = sql.replace("rolling as (", "packed_rolling as (", 1)
    return sql.replace("\nfinal as (", "\nrolling as (select *, " + ", ".join(unpack)
                       + " from packed_rolling),\n\nfinal as (", 1)


variants = {
    "template": body,
    "doubles": re.sub(r"::decimal\(18, \d+\)", "", body),
    "pairs": packed(body, 2, "bigint"),
    "quads": packed(body, 4, "hugeint"),
}
con = duckdb.connect(db, read_only=True)
con.execute("set memory_limit = '9GB'")
users = con.execute("select count(distinct user_id), count(*) from user_daily where user_id <= ?",
                    [last_user]).fetchone()
print(f"{db}: {users[0]:,} users, {users[1]:,} rows of user_daily (user_id <= {last_user}); windows {windows}")
print("| variant | seconds | rows | rows differing from the template |")
print("|---|---:|---:|---:|")
# The template runs first and last: the first run also reads the file cold.
for name, sql in list(variants.items()) + [("template_again", body)]:
    start = time.perf_counter()
    con.execute(f"create temp table v_{name} as {sql}")
    seconds = time.perf_counter() - start
    rows = con.execute(f"select count(*) from v_{name}").fetchone()[0]
    columns = ", ".join(r[0] for r in con.execute("describe v_template").fetchall())
    differ = con.execute(f"select count(*) from (select {columns} from v_{name} except all "
                         f"select {columns} from v_template)").fetchone()[0]
    print(f"| {name} | {seconds:.1f} | {rows:,} | {differ:,} |")
