"""Which days the day terms should mark: any event (`active_day_bits`, what
churn's `train.day_bits` terms read), a login, or a payment.

Usage: bench/day-kinds.sh [DB]   (the venv of bench/transforms.sh)

The generator bills a paid user on their billing day whatever their
engagement (docs/design.md §2), so on that day an event is certain until
the user leaves: a billing day marks the user present but says nothing of
a fade. A login marks a session. This script measures whether the day
terms gain from marking sessions instead of any event.

For each kind of day it builds the last 21 days' indicators of each row of
training_set from user_daily (bit i: the kind of day i days before the
as-of day), and fits the model's inputs plus log1p terms plus, per kind
listed, each day's indicator and the indicator times
`lifetime_activity_rate` (the form of churn's day terms). The split and the
fit are those of bench/transforms.py: a seeded fifth of the training
window's users validates, the rest fits; scikit-learn's LogisticRegression
at the model's C, on standardized inputs. Then each set refitted on the
whole training window is measured once on the model's test rows. Prints
the validation and test PR-AUC of each set.
"""

import sys

import duckdb
import numpy as np

from screen import Screen, with_columns

DAYS = 21
db = sys.argv[1]
con = duckdb.connect(db, read_only=True)
con.execute("set enable_progress_bar = false")
# The kinds of day as bits, as active_day_bits holds them (bit i: i days
# before the as-of day): the list of the last DAYS days (user_daily is
# dense, so DAYS rows are DAYS days) reversed, each day shifted to its bit.
con.execute(f"""
    create temp table day_kinds as
    with days as (
        select user_id, activity_date as as_of_date,
            list((logins_count > 0)::bigint) over last_days as login,
            list((payment_success_count + payment_failed_count > 0)::bigint) over last_days as payment
        from user_daily
        window last_days as (partition by user_id order by activity_date
                             rows between {DAYS - 1} preceding and current row)
    )
    select user_id, as_of_date,
        list_sum(list_transform(list_reverse(login), (x, i) -> x << (i - 1))) as login,
        list_sum(list_transform(list_reverse(payment), (x, i) -> x << (i - 1))) as payment
    from days
""")
screen = Screen(con, db, (", k.login, k.payment", "join day_kinds k using (user_id, as_of_date)"))


def indicators(df, kind):
    """A row per row of df, a column per day (0: the as-of day)."""
    bits = df["active_day_bits" if kind == "active" else kind].to_numpy().astype(np.int64)
    return np.stack([(bits >> i) & 1 for i in range(DAYS)], axis=1).astype(float)


def matrix(df, kinds):
    out = {f"log1p({n})": np.log1p(df[n].astype(float).clip(lower=0)) for n in screen.log1p}
    rate = df.lifetime_activity_rate.astype(float).to_numpy()
    for kind in kinds:
        day = indicators(df, kind)
        for i in range(DAYS):
            out[f"{kind}{i}"] = day[:, i]
            out[f"{kind}{i}*rate"] = day[:, i] * rate
    return with_columns(screen.plain(df), out, df.index)


def pr_auc(kinds, fit_df, eval_df):
    return screen.fit_and_rank(matrix(fit_df, kinds), fit_df.churn_label, matrix(eval_df, kinds),
                               eval_df.churn_label, max_iter=3000)[0]


print(screen.describe(db))
print("| day terms (on log1p) | validation PR-AUC | test PR-AUC |")
print("|---|---:|---:|")
for kinds in [["active"], ["login"], ["active", "login"], ["active", "payment"], ["login", "payment"]]:
    v = pr_auc(kinds, screen.fit_rows, screen.validation)
    t = pr_auc(kinds, screen.train, screen.test)
    print(f"| {' + '.join(kinds)} | {v:.4f} | {t:.4f} |", flush=True)
