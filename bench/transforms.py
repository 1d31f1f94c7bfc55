"""Which input transforms earn their place: each candidate on a user-grouped
validation split cut from the model's training window, never its test rows.

Usage: bench/transforms.sh [DB]   (its own venv: duckdb, numpy, pandas, scikit-learn, lightgbm)

Reads training_set and the production model's split from the DuckDB file.
A fifth of the training window's users (seeded) is the validation set; the
rest fits. Every candidate is the model's inputs (each numeric column,
standardized, NULL at the mean; one-hot categories) plus one group of
derived inputs, fitted by scikit-learn's LogisticRegression (lbfgs at its
defaults, the model's C; NULL columns' std over the present values). That
stops short of churn's exact optimum at 20,000 users (0.0016 lower test
PR-AUC), the same for every candidate, so compare them with each other:

  log1p         ln(1 + x) beside each column non-negative on the fit rows
                whose largest value exceeds 1 (churn's `train.log1p` rule)
  trend         7-day against 30-day and lifetime activity rates
  deficit       active days short of the user's own rate, as z-scores
  silence       days since the last active day × -ln(1 - activity rate):
                the evidence that the user has already left
  interactions  recency × frequency, tenure × activity
  bins          deciles of six inputs, one-hot (edges from the fit rows)
  days          each of the last 21 days active or not (active_day_bits),
                and each times the lifetime activity rate (churn's
                `train.day_bits` terms)

Each later candidate is measured on top of log1p when log1p is kept.
LightGBM on the plain inputs (early stopping on the validation users) is the
nonlinear benchmark, a benchmark and not a dependency. Prints the validation
PR-AUC of each, its lift over the plain inputs, whether it is kept (lift >
0.002 on 20,000 users' validation rows is about twice its seed-to-seed
spread), and the test PR-AUC of the plain inputs, the kept set and LightGBM.
"""

import sys

import duckdb
import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from screen import Screen

db = sys.argv[1]
con = duckdb.connect(db, read_only=True)
screen = Screen(con, db)
train, test, fit_rows, validation = screen.train, screen.test, screen.fit_rows, screen.validation
plain, LOG1P = screen.plain, screen.log1p
BINNED = ["days_since_last_activity", "silence_ratio", "lifetime_activity_rate",
          "active_days_7d", "days_since_signup", "active_days_30d"]
EDGES = {}
for n in BINNED:
    q = np.unique(np.nanquantile(fit_rows[n].astype(float), np.linspace(0, 1, 11)))
    q[0], q[-1] = -np.inf, np.inf
    EDGES[n] = q


def derived(df, group):
    rate = df.lifetime_activity_rate.astype(float)
    silence = df.days_since_last_activity.astype(float)
    out = {}
    if group == "log1p":
        for n in LOG1P:
            out[f"log1p({n})"] = np.log1p(df[n].astype(float).clip(lower=0))
    elif group == "trend":
        out["act7_vs_30"] = df.active_days_7d / 7 - df.active_days_30d / 30
        out["act7_vs_lifetime"] = df.active_days_7d / 7 - rate
        out["act14_vs_30"] = df.active_days_14d / 14 - df.active_days_30d / 30
    elif group == "deficit":
        q = rate.clip(0.01, 0.99)
        for w in (7, 14, 30):
            out[f"deficit_{w}d"] = (w * q - df[f"active_days_{w}d"]) / np.sqrt(w * q * (1 - q))
    elif group == "silence":
        out["silence_evidence"] = -silence * np.log(1 - rate.clip(upper=0.999))
    elif group == "interactions":
        out["recency_x_frequency"] = np.log1p(silence) * rate
        out["tenure_x_activity"] = np.log1p(df.days_since_signup.astype(float)) * rate
    elif group == "days":
        bits = df.active_day_bits.to_numpy().astype(np.int64)
        for i in range(21):
            day = ((bits >> i) & 1).astype(float)
            out[f"bit{i:02}"] = day
            out[f"bit{i:02}*rate"] = day * rate
    elif group == "bins":
        for n, e in EDGES.items():
            x = df[n].astype(float)
            for i in range(len(e) - 1):
                out[f"{n}_bin{i}"] = ((x > e[i]) & (x <= e[i + 1])).astype(float)
    return pd.DataFrame(out, index=df.index)


def matrix(df, groups):
    return pd.concat([plain(df)] + [derived(df, g) for g in groups], axis=1)


def fit_and_rank(groups, fit_df, eval_df):
    return screen.fit_and_rank(matrix(fit_df, groups), fit_df.churn_label,
                               matrix(eval_df, groups), eval_df.churn_label)


print(screen.describe(db))
base, _ = fit_and_rank([], fit_rows, validation)
print(f"| candidate | inputs added | validation PR-AUC | lift | kept |")
print(f"|---|---:|---:|---:|---|")
print(f"| plain inputs | 0 | {base:.4f} | | |")
kept = []
for group in ["log1p", "trend", "deficit", "silence", "interactions", "bins", "days"]:
    groups = kept + [group]
    score, _ = fit_and_rank(groups, fit_rows, validation)
    reference, _ = fit_and_rank(kept, fit_rows, validation) if kept else (base, None)
    lift = score - reference
    keep = lift > 0.002
    added = derived(fit_rows.head(1), group).shape[1]
    on = f" (on {' + '.join(kept)})" if kept else ""
    print(f"| {group}{on} | {added} | {score:.4f} | {lift:+.4f} | {'yes' if keep else 'no'} |")
    if keep:
        kept.append(group)

import lightgbm as lgb  # noqa: E402

x_fit, x_val = plain(fit_rows), plain(validation)
booster = lgb.train(
    {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 200,
     "feature_fraction": 0.8, "verbose": -1, "seed": 1},
    lgb.Dataset(x_fit, fit_rows.churn_label),
    num_boost_round=2000,
    valid_sets=[lgb.Dataset(x_val, validation.churn_label)],
    callbacks=[lgb.early_stopping(50, verbose=False)],
)
lgb_val = average_precision_score(validation.churn_label, booster.predict(x_val, num_iteration=booster.best_iteration))
print(f"| LightGBM, plain inputs ({booster.best_iteration} trees) | | {lgb_val:.4f} | {lgb_val - base:+.4f} | benchmark |")

# The test rows, once, for the record: the plain inputs, the kept set, LightGBM
# refitted on the whole training window with the trees it chose.
plain_test, plain_mean = fit_and_rank([], train, test)
kept_test, kept_mean = fit_and_rank(kept, train, test)
full = lgb.train(
    {"objective": "binary", "learning_rate": 0.05, "num_leaves": 31, "min_data_in_leaf": 200,
     "feature_fraction": 0.8, "verbose": -1, "seed": 1},
    lgb.Dataset(plain(train), train.churn_label),
    num_boost_round=booster.best_iteration,
)
lgb_test = average_precision_score(test.churn_label, full.predict(plain(test)))
rate = test.churn_label.mean()
print()
print(f"test rows ({len(test)}, churn rate {rate:.4f}): plain inputs PR-AUC {plain_test:.4f} (mean risk "
      f"{plain_mean:.4f}); kept ({' + '.join(kept) or 'none'}) {kept_test:.4f} (mean risk {kept_mean:.4f}); "
      f"LightGBM {lgb_test:.4f}")
