"""A stored model read back from its rows in `model_terms`, in numpy: the
checks in bench/ score a model independently of the Rust scorer with it.

`design(terms, numeric, category)` is each input term's column of z, as
docs/design.md §3 defines it: z = (t(x) * by - center) / scale, where t is
the term's transform (none, ln(1 + max(x, 0)), or bit i of the day bits), a
missing value (x or by) sits at the center (z = 0), and a category term is 1
when the column holds it. `ece` is the model card's calibration error.
"""

import sys

import numpy as np

COLUMNS = "term, feature, category, center, scale, coefficient, transform, by_feature"


def read(con, model_id):
    """The model's terms (COLUMNS, in a fixed order), its intercept and its
    input terms."""
    terms = con.execute(f"select {COLUMNS} from model_terms where model_id = ? order by term",
                        [model_id]).fetchall()
    intercept = sum(t[5] for t in terms if t[1] is None)
    return intercept, [t for t in terms if t[1] is not None]


def design(inputs, numeric, category):
    """The design matrix of `inputs` (rows of COLUMNS without the intercept):
    `numeric(name)` gives a column as floats with NaN for NULL,
    `category(name)` as objects with None for NULL."""
    columns = []
    for term, feature, level, center, scale, _, transform, by in inputs:
        if level is not None:
            columns.append((category(feature) == level).astype(float))
            continue
        x = numeric(feature)
        if transform == "log1p":
            x = np.log(1 + np.maximum(x, 0))
        elif transform is not None and transform.startswith("bit:"):
            x = np.floor(np.maximum(x, 0) / 2 ** int(transform[4:])) % 2
        elif transform is not None:
            sys.exit(f"term {term}: transform {transform} is not known to bench/model_terms.py")
        if by is not None:
            x = x * numeric(by)
        columns.append((np.where(np.isnan(x), center, x) - center) / scale)
    return np.column_stack(columns)


def ece(label, p, bins=10):
    """Expected calibration error over equal-count bins of the sorted risks,
    bin b holding rows [b·n/bins, (b+1)·n/bins), as the model card's."""
    order = np.argsort(p, kind="stable")
    n, total = len(p), 0.0
    for b in range(bins):
        rows = order[b * n // bins:(b + 1) * n // bins]
        if len(rows):
            total += len(rows) * abs(label[rows].mean() - p[rows].mean())
    return total / n
