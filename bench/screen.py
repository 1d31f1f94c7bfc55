"""The rows and split that bench/transforms.py and bench/day_kinds.py screen
candidate inputs on: the production model's training window and test rows
of training_set, a seeded fifth of the training window's users as the
validation set, and the model's inputs as scikit-learn reads them.
"""

import sys

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score

NOT_INPUTS = {
    "user_id", "as_of_date", "signup_date", "is_paid", "future_active_days", "churn_label",
    "lifetime_active_days", "lifetime_events", "observed_days", "recently_active",
    "active_day_bits",  # read only by the day candidates, bit by bit
}
CATEGORICAL = ["plan", "country", "marketing_source"]


class Screen:
    """The split of a trained file. `extra` adds columns to every row:
    `(select list, join clause)` against training_set as `t`."""

    def __init__(self, con, db, extra=("", "")):
        row = con.execute(
            "select model_id, train_from, train_to, test_from, test_to, (params_json->>'c')::double "
            "from production_model"
        ).fetchone()
        if row is None:
            sys.exit(f"{db} has no production model: run `churn run` first")
        self.model_id, train_from, train_to, test_from, test_to, self.c = row
        columns = con.execute("select column_name, column_type from (describe training_set)").fetchall()
        self.numeric = [n for n, t in columns if n not in NOT_INPUTS and n not in CATEGORICAL and t != "BOOLEAN"]
        select, join = extra

        def rows(first, last):
            return con.execute(
                f"select t.*{select} from training_set t {join} where t.as_of_date between ? and ? "
                "order by user_id, as_of_date",
                [first, last],
            ).df()

        self.train, self.test = rows(train_from, train_to), rows(test_from, test_to)
        users = np.sort(self.train.user_id.unique())
        self.validation_users = set(
            np.random.default_rng(20240601).choice(users, size=len(users) // 5, replace=False))
        is_validation = self.train.user_id.isin(self.validation_users).to_numpy()
        self.fit_rows, self.validation = self.train[~is_validation], self.train[is_validation]
        # churn's `train.log1p` rule: non-negative on the fit rows, largest above 1.
        self.log1p = [n for n in self.numeric if self.fit_rows[n].min() >= 0 and self.fit_rows[n].max() > 1]

    def describe(self, db):
        return (f"{db}: model {self.model_id}; train {len(self.train)} rows ({len(self.fit_rows)} fit, "
                f"{len(self.validation)} validation of {len(self.validation_users)} users), "
                f"test {len(self.test)} rows")

    def plain(self, df):
        """The model's own inputs: each numeric column, and one-hot categories."""
        x = df[self.numeric].astype(float)
        for k in CATEGORICAL:
            for v in sorted(self.fit_rows[k].dropna().unique()):
                x = x.assign(**{f"{k}={v}": (df[k] == v).astype(float)})
        return x

    def fit_and_rank(self, x_fit, y_fit, x_eval, y_eval, max_iter=2000):
        """scikit-learn's fit at the model's C on inputs standardized by the
        fit rows (NULL at the mean): the PR-AUC on the evaluated rows and
        their mean risk."""
        mean, std = x_fit.mean(), x_fit.std(ddof=0).replace(0, 1)
        z = lambda x: ((x - mean) / std).fillna(0).to_numpy()  # noqa: E731
        lr = LogisticRegression(C=self.c, max_iter=max_iter).fit(z(x_fit), y_fit.to_numpy())
        p = lr.predict_proba(z(x_eval))[:, 1]
        return average_precision_score(y_eval.to_numpy(), p), p.mean()


def with_columns(x, columns, index):
    return pd.concat([x, pd.DataFrame(columns, index=index)], axis=1)
