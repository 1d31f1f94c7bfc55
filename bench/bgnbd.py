"""BG/NBD beside churn's production model, on the model's own test rows.

BG/NBD (Fader, Hardie & Lee 2005, the `lifetimes` implementation) is fitted
on every purchase (every event day of every user) up to the production
model's `train_to`. Each test row (user, as-of day d) of `training_set` is
then ranked by BG/NBD's expected purchases in the next `labels.horizon_days`
given the user's history up to d (frequency = purchase days - 1, recency =
last - first purchase day, T = d - first purchase day): fewer expected
purchases, higher risk. The production model's risks of the same rows come
from its terms in `model_terms` (computed here with numpy, independently of
the Rust scorer). Both rankings are scored against `churn_label`: ROC-AUC
and PR-AUC (average precision) side by side.

Then BG/NBD's P(alive) given the history up to d, as #30 asks of a
candidate input for purchase logs: first alone, as a ranker of the test rows
(risk = 1 - P(alive)); then beside the production model's own inputs, in a
logistic regression of the same C fitted by scikit-learn on the training
window: on a user-grouped validation split of it (a fifth of its users,
by a hash of the user id), and refitted on the whole window, on the test rows.

Usage: python bench/bgnbd.py DB   (bench/bgnbd.sh makes the venv)
"""

import sys

import duckdb
import model_terms
import numpy as np
from lifetimes import BetaGeoFitter
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score


def main(db: str) -> None:
    con = duckdb.connect(db, read_only=True)
    # The production model, or else the newest model (a candidate the gate
    # refused is still measured on its test rows).
    chosen = con.execute(
        "select model_id, train_to, test_from, test_to, pr_auc, roc_auc from production_model"
    ).fetchone() or con.execute(
        "select model_id, train_to, test_from, test_to, pr_auc, roc_auc from models "
        "order by created_at desc limit 1"
    ).fetchone()
    if chosen is None:
        sys.exit(f"{db} has no model: run `churn run --to train` first")
    model_id, train_to, test_from, test_to, pr_auc, roc_auc = chosen
    horizon = con.execute(
        "select (params_json->>'horizon_days')::integer from models where model_id = ?", [model_id]
    ).fetchone()[0]

    # Purchase days up to train_to: BG/NBD's calibration period.
    con.execute(
        "create temp table days as select distinct user_id, event_time::date as day from events"
    )
    calib = con.execute(
        """
        select count(*) - 1 as frequency,
               (max(day) - min(day))::double as recency,
               (date '{t}' - min(day))::double as age
        from days where day <= date '{t}' group by user_id
        """.format(t=train_to)
    ).fetchnumpy()
    bgf = BetaGeoFitter(penalizer_coef=0.001)
    bgf.fit(calib["frequency"], calib["recency"], calib["age"])

    # Rows of training_set from `lo` to `hi`, with each user's history up to
    # its as-of day.
    def with_history(lo, hi):
        return con.execute(
            f"""
        with test as (
            select * from training_set where as_of_date between date '{lo}' and date '{hi}'
        ),
        history as (
            select test.user_id, test.as_of_date,
                   count(*) - 1 as frequency,
                   (max(days.day) - min(days.day))::double as recency,
                   (test.as_of_date - min(days.day))::double as age
            from test join days on days.user_id = test.user_id and days.day <= test.as_of_date
            group by test.user_id, test.as_of_date
        )
        select test.*, history.frequency, history.recency, history.age
        from test join history using (user_id, as_of_date)
        order by user_id, as_of_date
        """
        ).fetchdf()

    rows = with_history(test_from, test_to)
    n_test = con.execute(
        f"select count(*) from training_set where as_of_date between date '{test_from}' and date '{test_to}'"
    ).fetchone()[0]
    assert len(rows) == n_test, f"{n_test - len(rows)} test rows have no purchase up to their day"
    label = rows["churn_label"].to_numpy()
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(
        horizon, rows["frequency"].to_numpy(), rows["recency"].to_numpy(), rows["age"].to_numpy()
    )
    bgnbd_risk = -np.asarray(expected)

    # The production model's risk from its terms, and its design matrix
    # (each term's column, the intercept left out).
    intercept, terms = model_terms.read(con, model_id)

    def design(frame):
        return model_terms.design(
            terms,
            lambda c: frame[c].to_numpy(dtype=float, na_value=np.nan),
            lambda c: frame[c].to_numpy(dtype=object, na_value=None),
        )

    coefficients = np.array([t[5] for t in terms])
    model_risk = 1.0 / (1.0 + np.exp(-(intercept + design(rows) @ coefficients)))

    print(f"test rows of {model_id}: {len(rows):,} ({test_from} to {test_to}), base rate {label.mean():.4f}")
    print(f"BG/NBD fitted on {len(calib['frequency']):,} users' purchases up to {train_to}: {bgf.params_.to_dict()}")
    print(f"{'ranking':<32} {'ROC-AUC':>8} {'PR-AUC':>8}")
    for name, score in [("churn model", model_risk), (f"BG/NBD (expected purchases, {horizon} d)", bgnbd_risk)]:
        print(f"{name:<32} {roc_auc_score(label, score):>8.4f} {average_precision_score(label, score):>8.4f}")
    print(f"(the registry's test figures of {model_id}: ROC-AUC {roc_auc:.4f}, PR-AUC {pr_auc:.4f})")

    # P(alive) alone, then beside the model's inputs.
    def p_alive(frame):
        return np.asarray(bgf.conditional_probability_alive(
            frame["frequency"].to_numpy(), frame["recency"].to_numpy(), frame["age"].to_numpy()))

    alive = p_alive(rows)
    print(f"{'BG/NBD P(alive) alone':<32} {roc_auc_score(label, 1 - alive):>8.4f} "
          f"{average_precision_score(label, 1 - alive):>8.4f}")
    train_from, c = con.execute(
        "select train_from, (params_json->>'c')::double from models where model_id = ?", [model_id]
    ).fetchone()
    train = with_history(train_from, train_to)
    y = train["churn_label"].to_numpy()
    alive_train = p_alive(train)
    mu, sd = alive_train.mean(), alive_train.std()

    def inputs(frame, alive_values, with_alive):
        x = design(frame)
        return np.column_stack([x, (alive_values - mu) / sd]) if with_alive else x

    held = np.array([hash_user(u) % 5 == 0 for u in train["user_id"]])
    print(f"{'inputs (logistic regression, C ' + str(c) + ')':<40} {'val ROC':>8} {'val PR':>8} "
          f"{'test ROC':>8} {'test PR':>8} {'test ECE':>8}")
    for name, with_alive in [("the model's inputs", False), ("the model's inputs + P(alive)", True)]:
        fit = LogisticRegression(C=c or 1.0, max_iter=5000)
        fit.fit(inputs(train[~held], alive_train[~held], with_alive), y[~held])
        v = fit.predict_proba(inputs(train[held], alive_train[held], with_alive))[:, 1]
        whole = LogisticRegression(C=c or 1.0, max_iter=5000)
        whole.fit(inputs(train, alive_train, with_alive), y)
        t = whole.predict_proba(inputs(rows, alive, with_alive))[:, 1]
        print(f"{name:<40} {roc_auc_score(y[held], v):>8.4f} {average_precision_score(y[held], v):>8.4f} "
              f"{roc_auc_score(label, t):>8.4f} {average_precision_score(label, t):>8.4f} {ece(label, t):>8.4f}")
    print(f"(validation: {held.sum():,} rows of {len(set(train['user_id'][held])):,} users of the training window "
          f"{train_from} to {train_to}; test: the model's test rows)")

    # How far the base rate moves from month to month: what a model
    # calibrated on the training window's mean meets in a later month.
    months = con.execute(
        f"""
        select strftime(as_of_date, '%Y-%m') as month,
               case when as_of_date <= date '{train_to}' then 'train' else 'test' end as part,
               count(*), avg(churn_label)
        from training_set
        where as_of_date between date '{train_from}' and date '{train_to}'
           or as_of_date between date '{test_from}' and date '{test_to}'
        group by all order by month
        """
    ).fetchall()
    print("observed rate by month of the as-of day: "
          + ", ".join(f"{m} {r:.3f} ({part}, {n:,} rows)" for m, part, n, r in months))
    print(f"mean risk on the test rows: churn model {model_risk.mean():.4f}, observed {label.mean():.4f}; "
          f"ECE {ece(label, model_risk):.4f}")


def hash_user(user_id: str) -> int:
    """A stable hash of a user id (Python's own is salted per process)."""
    h = 2166136261
    for b in user_id.encode():
        h = ((h ^ b) * 16777619) % 2**32
    return h


ece = model_terms.ece


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/churn.duckdb")
