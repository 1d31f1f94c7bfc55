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

Usage: python bench/bgnbd.py DB   (bench/bgnbd.sh makes the venv)
"""

import sys

import duckdb
import numpy as np
from lifetimes import BetaGeoFitter
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

    # The model's test rows, with each user's history up to its as-of day.
    rows = con.execute(
        f"""
        with test as (
            select * from training_set where as_of_date between date '{test_from}' and date '{test_to}'
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
    n_test = con.execute(
        f"select count(*) from training_set where as_of_date between date '{test_from}' and date '{test_to}'"
    ).fetchone()[0]
    assert len(rows) == n_test, f"{n_test - len(rows)} test rows have no purchase up to their day"
    label = rows["churn_label"].to_numpy()
    expected = bgf.conditional_expected_number_of_purchases_up_to_time(
        horizon, rows["frequency"].to_numpy(), rows["recency"].to_numpy(), rows["age"].to_numpy()
    )
    bgnbd_risk = -np.asarray(expected)

    # The production model's risk from its terms.
    terms = con.execute(
        "select term, feature, category, center, scale, coefficient from model_terms where model_id = ?",
        [model_id],
    ).fetchall()
    margin = np.zeros(len(rows))
    for term, feature, category, center, scale, coefficient in terms:
        if feature is None:
            margin += coefficient
        elif category is None:
            x = rows[feature].to_numpy(dtype=float, na_value=np.nan)
            z = (np.where(np.isnan(x), center, x) - center) / scale
            margin += coefficient * z
        else:
            margin += coefficient * (rows[feature].to_numpy() == category)
    model_risk = 1.0 / (1.0 + np.exp(-margin))

    print(f"test rows of {model_id}: {len(rows):,} ({test_from} to {test_to}), base rate {label.mean():.4f}")
    print(f"BG/NBD fitted on {len(calib['frequency']):,} users' purchases up to {train_to}: {bgf.params_.to_dict()}")
    print(f"{'ranking':<32} {'ROC-AUC':>8} {'PR-AUC':>8}")
    for name, score in [("churn model", model_risk), (f"BG/NBD (expected purchases, {horizon} d)", bgnbd_risk)]:
        print(f"{name:<32} {roc_auc_score(label, score):>8.4f} {average_precision_score(label, score):>8.4f}")
    print(f"(the registry's test figures of {model_id}: ROC-AUC {roc_auc:.4f}, PR-AUC {pr_auc:.4f})")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "data/churn.duckdb")
