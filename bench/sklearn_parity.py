"""Parity of churn's logistic regression with scikit-learn's, on the same matrix.

Usage: bench/sklearn_parity.sh [DB]   (makes its own venv with duckdb, numpy, scikit-learn)

Reads from the DuckDB file: training_set, the production model's split
(train_from..train_to, test_from..test_to) and its terms. Builds the design
matrix from the terms (center/scale for numerics, one column per category),
fits scikit-learn's LogisticRegression (lbfgs, same C, class_weight balanced)
on the train rows, and prints side by side: PR-AUC and ROC-AUC on the test
rows, the largest coefficient difference, and each fit's wall time.
"""
import json
import sys
import time

import duckdb
import numpy as np
import sklearn
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, roc_auc_score

db = sys.argv[1] if len(sys.argv) > 1 else "data/churn.duckdb"
con = duckdb.connect(db, read_only=True)
model = con.sql(
    "select model_id, train_from, train_to, test_from, test_to, pr_auc, roc_auc, params_json "
    "from production_model"
).fetchone()
if model is None:
    sys.exit(f"{db} has no production model: run `churn run --to promote` first")
model_id, train_from, train_to, test_from, test_to, our_pr, our_roc, params = model
params = json.loads(params)
terms = con.execute(
    "select term, feature, category, center, scale, coefficient from model_terms where model_id = ?",
    [model_id],
).fetchall()
intercept = [t for t in terms if t[1] is None][0][5]
inputs = [t for t in terms if t[1] is not None]


def design(where):
    cols = []
    for term, feature, category, center, scale, _ in inputs:
        if category is None:
            cols.append(f'(coalesce("{feature}"::double, {center!r}) - {center!r}) / {scale!r}')
        else:
            cols.append(f"({feature} is not distinct from '{category}')::double")
    sql = f"select churn_label::double, {', '.join(cols)} from training_set where {where}"
    arr = con.sql(sql).fetchnumpy()
    names = list(arr.keys())
    y = np.asarray(arr[names[0]], dtype=float)
    x = np.column_stack([np.asarray(arr[n], dtype=float) for n in names[1:]])
    return x, y


x_train, y_train = design(f"as_of_date between '{train_from}' and '{train_to}'")
x_test, y_test = design(f"as_of_date between '{test_from}' and '{test_to}'")
ours = np.array([t[5] for t in inputs])
c = params["c"]

results = {}
for label, kw in [("default tol", {}), ("tight tol", {"tol": 1e-10, "max_iter": 100000})]:
    clf = LogisticRegression(C=c, class_weight="balanced", solver="lbfgs", **kw)
    start = time.perf_counter()
    clf.fit(x_train, y_train)
    seconds = time.perf_counter() - start
    p = clf.predict_proba(x_test)[:, 1]
    results[label] = {
        "seconds": seconds,
        "iterations": int(clf.n_iter_[0]),
        "pr_auc": average_precision_score(y_test, p),
        "roc_auc": roc_auc_score(y_test, p),
        "coef": clf.coef_[0],
        "intercept": clf.intercept_[0],
    }

def objective(coef, b):
    """The objective both fits minimize, C·Σ wᵢ·logloss + ½‖β‖² (balanced
    weights, intercept unpenalized), and the largest |gradient| entry."""
    z = x_train @ coef + b
    n, n_pos = len(y_train), y_train.sum()
    w = np.where(y_train == 1, n / (2 * n_pos), n / (2 * (n - n_pos)))
    loss = np.logaddexp(0, np.where(y_train == 1, -z, z))
    r = c * w * (0.5 * (1 + np.tanh(0.5 * z)) - y_train)
    grad = np.concatenate([x_train.T @ r + coef, [r.sum()]])
    return c * (w * loss).sum() + 0.5 * coef @ coef, np.abs(grad).max()


ref = results["tight tol"]
diff = np.abs(ours - ref["coef"])
rel_to_largest = diff.max() / np.abs(ref["coef"]).max()
relative = diff / np.maximum(np.abs(ref["coef"]), 1e-12)
per_coef = relative.max()
worst = int(np.argmax(relative))
print(f"model {model_id}: {x_train.shape[0]} train rows, {x_test.shape[0]} test rows, {x_train.shape[1]} inputs, C = {c}")
print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}")
print()
print(f"{'':<26}{'churn':>12}{'sklearn tight':>16}{'sklearn default':>18}")
print(f"{'PR-AUC (test)':<26}{our_pr:>12.6f}{ref['pr_auc']:>16.6f}{results['default tol']['pr_auc']:>18.6f}")
print(f"{'ROC-AUC (test)':<26}{our_roc:>12.6f}{ref['roc_auc']:>16.6f}{results['default tol']['roc_auc']:>18.6f}")
print(f"{'fit wall seconds':<26}{params['fit_seconds']:>12.3f}{ref['seconds']:>16.3f}{results['default tol']['seconds']:>18.3f}")
print(f"{'iterations':<26}{params['iterations']:>12d}{ref['iterations']:>16d}{results['default tol']['iterations']:>18d}")
print()
print(f"|dPR-AUC| vs tight sklearn:                  {abs(our_pr - ref['pr_auc']):.2e}")
print(f"max |d coef| / max |coef|:                   {rel_to_largest:.2e}")
print(f"max per-coefficient relative difference:     {per_coef:.2e}")
print(f"|d intercept|:                               {abs(intercept - ref['intercept']):.2e}")
print(f"fit time ratio sklearn tight / churn:        {ref['seconds'] / params['fit_seconds']:.2f}x")
print(f"  (largest relative difference: {inputs[worst][0]}, churn {ours[worst]:.6g}, sklearn tight {ref['coef'][worst]:.6g})")
print()
print("Which fit is nearer the optimum of the shared objective:")
for label, coef, b in [
    ("churn", ours, intercept),
    ("sklearn tight", ref["coef"], ref["intercept"]),
    ("sklearn default", results["default tol"]["coef"], results["default tol"]["intercept"]),
]:
    f, g = objective(coef, b)
    print(f"  {label:<18} objective {f:.10f}   max |gradient| {g:.3e}")
