//! A model's reference profile: its training rows binned once for drift
//! (docs/design.md §4). Numeric inputs and the score in `drift.bins`
//! quantile bins (numpy's linear interpolation to the last bit, duplicate
//! edges merged, outer bins open, bin k holding edge(k-1) < x <= edge(k),
//! NULL a bin of its own); categorical inputs one bin per category. Pure:
//! the profile is stored in `model_reference_bins` by the store
//! (`src/store/models.rs`).

use crate::error::{ModelError, Result};
use crate::model::Model;
use crate::model::frame::Frame;
use crate::model::preprocess::active_days;
use crate::sql::ACTIVE_DAY_BITS_COLUMN;

/// The name the model's score goes by in the drift tables.
pub const SCORE_FEATURE: &str = "churn_risk";

/// The bins of a numeric feature from its reference quantiles: duplicate
/// edges merged, outer bins open.
pub fn bins_from_edges(edges: &[f64]) -> Vec<(f64, f64)> {
    let mut e: Vec<f64> = edges.iter().copied().filter(|x| x.is_finite()).collect();
    e.sort_by(f64::total_cmp);
    e.dedup();
    let mut bounds = vec![f64::NEG_INFINITY];
    bounds.extend(e);
    bounds.push(f64::INFINITY);
    bounds.windows(2).map(|w| (w[0], w[1])).collect()
}

/// One bin of a model's reference profile: its training rows binned for
/// drift (table `model_reference_bins`). Numeric and score bins are
/// numbered 1.. with their bounds (lower < x <= upper), the NULL bin is 0;
/// categorical bins hold one category each (NULL: bin 0), numbered by
/// category.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceBin {
    pub feature: String,
    /// numeric, score or categorical.
    pub kind: String,
    pub bin: i32,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub category: Option<String>,
    pub count: i64,
}

/// The reference bins of one numeric input (NaN = NULL): `n_bins` quantile
/// bins of its values (numpy linear quantiles, duplicate edges merged, outer
/// bins open), each value in the bin with lower < x <= upper, and the NULL
/// bin when there are NULLs.
///
/// `active_day_bits` is binned by its count of active days
/// (sql/drift/binned.sql reads the same): the mask's value turns with the
/// weekday each bit falls on, so one day's population would differ from the
/// training rows' mix of days even when nothing drifts.
pub fn numeric_reference(feature: &str, kind: &str, values: &[f64], n_bins: u32) -> Vec<ReferenceBin> {
    let counted: Vec<f64>;
    let values = if feature == ACTIVE_DAY_BITS_COLUMN {
        counted = values
            .iter()
            .map(|v| {
                if v.is_nan() {
                    *v
                } else {
                    f64::from(active_days(*v))
                }
            })
            .collect();
        &counted
    } else {
        values
    };
    let qs: Vec<f64> = (1..n_bins).map(|k| f64::from(k) / f64::from(n_bins)).collect();
    let bounds = bins_from_edges(&quantiles(values.iter().copied(), &qs));
    let uppers: Vec<f64> = bounds.iter().map(|&(_, upper)| upper).collect();
    let mut counts = vec![0i64; bounds.len()];
    let mut nulls = 0i64;
    for &x in values {
        if x.is_nan() {
            nulls += 1;
        } else {
            // The first bin whose upper bound is >= x; the last is +inf.
            let k = uppers.partition_point(|&u| u < x).min(counts.len() - 1);
            counts[k] += 1;
        }
    }
    let bin = |bin: i32, lower: Option<f64>, upper: Option<f64>, count: i64| ReferenceBin {
        feature: feature.to_string(),
        kind: kind.to_string(),
        bin,
        lower,
        upper,
        category: None,
        count,
    };
    let mut out = Vec::with_capacity(bounds.len() + 1);
    if nulls > 0 {
        out.push(bin(0, None, None, nulls));
    }
    for (k, (&(lower, upper), &count)) in bounds.iter().zip(&counts).enumerate() {
        out.push(bin(k as i32 + 1, Some(lower), Some(upper), count));
    }
    out
}

/// The reference bins of one categorical input: one per category seen,
/// numbered in category order, and bin 0 for NULL when there are NULLs.
pub fn categorical_reference<'a>(
    feature: &str,
    values: impl IntoIterator<Item = Option<&'a str>>,
) -> Vec<ReferenceBin> {
    let mut counts: std::collections::BTreeMap<Option<&str>, i64> = std::collections::BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    // None sorts first: the NULL bin is 0, the categories 1.. in order.
    let offset = i32::from(!counts.contains_key(&None));
    counts
        .into_iter()
        .enumerate()
        .map(|(k, (category, count))| ReferenceBin {
            feature: feature.to_string(),
            kind: "categorical".to_string(),
            bin: k as i32 + offset,
            lower: None,
            upper: None,
            category: category.map(str::to_string),
            count,
        })
        .collect()
}

/// The reference profile of `model`: `rows` of `frame` (its training rows)
/// and their scores, binned for every input the model reads and its score.
pub fn reference_profile(
    model: &Model,
    frame: &Frame,
    rows: &[usize],
    scores: &[f64],
    n_bins: u32,
) -> Result<Vec<ReferenceBin>> {
    use rayon::prelude::*;
    // The inputs binned side by side (each one's bins in input order).
    let per_input = model
        .numeric_features()
        .par_iter()
        .map(|name| {
            let j = frame
                .numeric_index(name)
                .ok_or_else(|| ModelError::ReferenceColumn(name.clone()))?;
            let column = frame.numeric.column(j);
            let values: Vec<f64> = rows.iter().map(|&i| column[i]).collect();
            Ok(numeric_reference(name, "numeric", &values, n_bins))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut out: Vec<ReferenceBin> = per_input.into_iter().flatten().collect();
    out.extend(numeric_reference(SCORE_FEATURE, "score", scores, n_bins));
    for name in model.categorical_features() {
        let k = Frame::categorical_index(&name).ok_or_else(|| ModelError::NotCategorical(name.clone()))?;
        out.extend(categorical_reference(
            &name,
            rows.iter().map(|&i| frame.category(k, i)),
        ));
    }
    Ok(out)
}

/// The number of rows behind a profile: every input counts each row once.
pub fn reference_rows(bins: &[ReferenceBin]) -> Result<i64> {
    let mut per_feature: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for b in bins {
        *per_feature.entry(&b.feature).or_default() += b.count;
    }
    let mut totals = per_feature.values().copied();
    let first = totals.next().unwrap_or(0);
    if totals.any(|n| n != first) {
        return Err(ModelError::InconsistentProfile(format!("{per_feature:?}")).into());
    }
    Ok(first)
}

/// Quantiles at `qs` of the non-NaN `values` with numpy's default (linear)
/// method: virtual index h = (n-1)q between order statistics a and b, and
/// numpy's rounding of the interpolation (from b when h's fraction is 0.5 or
/// more). Empty input gives no quantiles.
pub fn quantiles(values: impl IntoIterator<Item = f64>, qs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = values.into_iter().filter(|x| !x.is_nan()).collect();
    let n = v.len();
    if n == 0 {
        return Vec::new();
    }
    let positions: Vec<(usize, usize, f64)> = qs
        .iter()
        .map(|&q| {
            let h = (n - 1) as f64 * q;
            let lo = (h.floor() as usize).min(n - 1);
            (lo, (lo + 1).min(n - 1), h - h.floor())
        })
        .collect();
    let mut needed: Vec<usize> = positions.iter().flat_map(|&(a, b, _)| [a, b]).collect();
    needed.sort_unstable();
    needed.dedup();
    // Order statistics by successive selection on the remaining right part.
    let mut stats = std::collections::HashMap::new();
    let mut start = 0;
    for k in needed {
        let (_, nth, _) = v[start..].select_nth_unstable_by(k - start, f64::total_cmp);
        stats.insert(k, *nth);
        start = k + 1;
        if start >= n {
            break;
        }
    }
    positions
        .into_iter()
        .map(|(lo, hi, g)| {
            let (a, b) = (stats[&lo], stats[&hi]);
            let diff = b - a;
            if g >= 0.5 {
                b - diff * (1.0 - g)
            } else {
                a + diff * g
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_edges_merge_and_outer_bins_are_open() {
        let bins = bins_from_edges(&[0.0, 0.0, 1.0, 2.5, 2.5]);
        assert_eq!(
            bins,
            vec![
                (f64::NEG_INFINITY, 0.0),
                (0.0, 1.0),
                (1.0, 2.5),
                (2.5, f64::INFINITY)
            ]
        );
        assert_eq!(bins_from_edges(&[]), vec![(f64::NEG_INFINITY, f64::INFINITY)]);
    }

    #[test]
    fn quantiles_follow_numpy_linear() {
        // numpy.quantile([1, 2, 3, 4, 10], [0.1, 0.5, 0.9, 0.95]) = 1.4, 3, 7.6, 8.8
        let q = quantiles([10.0, 3.0, f64::NAN, 1.0, 4.0, 2.0], &[0.1, 0.5, 0.9, 0.95]);
        let want = [1.4, 3.0, 7.6, 8.8];
        for (a, b) in q.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{q:?}");
        }
        // Between equal neighbours the edge is the value itself, to the bit.
        let x = 176.0 / 3.0;
        assert_eq!(quantiles([x; 7], &[0.2, 0.7]), vec![x, x]);
        assert!(quantiles([f64::NAN], &[0.5]).is_empty());
        assert_eq!(quantiles([5.0], &[0.1, 0.9]), vec![5.0, 5.0]);
    }
}
