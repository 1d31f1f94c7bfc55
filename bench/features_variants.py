"""The features statement beside rewrites of it, on a slice of a file's users.

Usage: bench/features-variants.sh DB [LAST_USER]   (default LAST_USER u014000)

Renders the full build of `user_features_daily` (`churn sql features`),
restricts `user_daily` to the users up to LAST_USER, and times each variant
into a temp table, read-only, one after the other, with DuckDB's
memory_limit at 9 GB:

  template   the statement as the features stage runs it: a running sum per
             column, and each window's sum as the running sum less itself
             W rows back
  framed     the earlier form: an aggregate over a frame of W rows per
             column and window, in one window pass
  doubles    the decimal casts of the exact sums removed (not the same
             bits: the rows that differ are counted)
  bigint     the integer running sums cast to BIGINT (DuckDB sums integers
             as HUGEINT)

Prints each variant's seconds and the rows in which it differs from the
template, which runs again at the end (its first run also reads the file
cold). The packed window sums measured at commit 6c09743 (two to a BIGINT,
four to a HUGEINT: exact and slower) belonged to the framed form.
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

def framed(sql):
    """The statement with a frame per window (the earlier form): each
    `running - lag(running, W)` becomes the column's aggregate over a frame
    of W rows, every other running column its aggregate over the history,
    in one window pass over user_daily instead of two."""
    cte = re.search(r"\nrunning as \(\n(.*?)\n\),\n", sql, re.S)
    defs = dict((name, expr) for expr, name in
                re.findall(r"^        (.*) over (?:history|dated) as (\w+),?$", cte.group(1), re.M))
    assert {"running_active_days", "running_bits", "last_active_date", "observed_days"} <= set(defs), defs
    rolling = sql[sql.index("\nrolling as ("):sql.index("\nfinal as (")]
    frames = set()

    def frame(m):
        frames.add(int(m.group(2)))
        return f"({defs[m.group(1)]} over w{m.group(2)})"
    out = re.sub(r"\((running_\w+) - coalesce\(lag\(\1, (\d+)\) over dated, 0\)\)", frame, rolling)
    out = re.sub(r"\b(running_\w+)\b", lambda m: f"({defs[m.group(1)]} over history)", out)
    out = re.sub(r"^        (last_active_date|first_active_date),$",
                 lambda m: f"        {defs[m.group(1)]} over history as {m.group(1)},", out, flags=re.M)
    out = out.replace("observed_days::integer as observed_days",
                      f"({defs['observed_days']} over dated)::integer as observed_days")
    out = out.replace("    from running\n", "    from user_daily\n", 1)
    windows = "".join(f"        w{w} as (partition by user_id order by activity_date rows between {w - 1} preceding"
                      " and current row),\n" for w in sorted(frames))
    windows += ("        history as (partition by user_id order by activity_date rows between unbounded preceding"
                " and current row),\n")
    out = out.replace("    window\n", "    window\n" + windows, 1)
    assert "running" not in out, out
    return sql.replace(cte.group(0), "\n").replace(rolling, out)


def bigint(sql):
    """The integer running sums cast to BIGINT (DuckDB sums integers as HUGEINT)."""
    return re.sub(r"        sum\((\w+)\) over history as (running_\w+),",
                  r"        (sum(\1) over history)::bigint as \2,", sql)


variants = {
    "template": body,
    "framed": framed(body),
    "doubles": re.sub(r"::decimal\(18, \d+\)", "", body),
    "bigint": bigint(body),
}

con = duckdb.connect(db, read_only=True)
con.execute("set memory_limit = '9GB'")
users = con.execute("select count(distinct user_id), count(*) from user_daily where user_id <= ?",
                    [last_user]).fetchone()
windows = sorted({int(w) for w in re.findall(r"lag\(running_active_days, (\d+)\)", body)})
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
