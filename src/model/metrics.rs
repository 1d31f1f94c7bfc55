//! Evaluation metrics on a test set, with scikit-learn's definitions.

use serde::{Deserialize, Serialize};

use crate::error::{ModelError, Result};

/// Every metric of docs/design.md §3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    pub positives: usize,
    pub base_rate: f64,
    pub pr_auc: f64,
    pub roc_auc: f64,
    pub log_loss: f64,
    pub brier: f64,
    /// Mean predicted risk, to set beside the observed rate (`base_rate`).
    #[serde(default)]
    pub mean_predicted: f64,
    /// Expected calibration error over `reliability`'s 10 equal-count bins.
    #[serde(default)]
    pub ece: f64,
    /// The rows sorted by risk in 10 groups of (nearly) equal size: mean
    /// predicted against observed rate in each.
    #[serde(default)]
    pub reliability: Vec<CalibrationBin>,
    /// Brier and log loss of the constant prediction of the observed rate
    /// (the reference of the Brier skill score): a model must do better.
    #[serde(default)]
    pub brier_constant: f64,
    #[serde(default)]
    pub log_loss_constant: f64,
    pub precision_at_05: f64,
    pub recall_at_05: f64,
    pub f1_at_05: f64,
    pub confusion: Confusion,
    pub top10_precision: f64,
    pub top10_lift: f64,
    pub calibration: Vec<CalibrationBin>,
    /// Precision (y) against recall (x) at the distinct score thresholds,
    /// highest first, thinned to at most `CURVE_POINTS` (models trained
    /// before curves were recorded have none).
    #[serde(default)]
    pub pr_curve: Vec<CurvePoint>,
    /// True positive rate (y) against false positive rate (x), from (0, 0)
    /// (no threshold) through every distinct threshold, thinned likewise.
    #[serde(default)]
    pub roc_curve: Vec<CurvePoint>,
    /// The test rows by risk, highest first, in ten groups of (nearly)
    /// equal size: positives, rate and lift over the base rate of each.
    #[serde(default)]
    pub deciles: Vec<Decile>,
}

/// Most points a stored curve keeps (the first and last always).
pub const CURVE_POINTS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    /// Scores ≥ this count as positive; None for the ROC curve's (0, 0).
    pub threshold: Option<f64>,
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decile {
    /// 1 = the highest-risk tenth.
    pub decile: usize,
    pub count: usize,
    pub positives: usize,
    pub min_score: f64,
    pub max_score: f64,
    pub rate: f64,
    pub lift: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confusion {
    pub tn: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tp: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationBin {
    pub lower: f64,
    pub upper: f64,
    pub count: usize,
    pub mean_predicted: Option<f64>,
    pub observed_rate: Option<f64>,
}

fn check(y: &[f64], p: &[f64]) -> Result<usize> {
    if y.len() != p.len() {
        return Err(ModelError::Lengths {
            labels: y.len(),
            scores: p.len(),
        }
        .into());
    }
    if y.is_empty() {
        return Err(ModelError::EmptyTestSet.into());
    }
    if p.iter().any(|v| !v.is_finite()) {
        return Err(ModelError::NonFiniteScore.into());
    }
    let pos = y.iter().filter(|&&v| v == 1.0).count();
    check_classes(pos, y.len())?;
    Ok(pos)
}

/// `positives` of `total` rows: an error when they hold one class only (or
/// none), which leaves PR-AUC and ROC-AUC undefined.
pub fn check_classes(positives: usize, total: usize) -> Result<()> {
    if total == 0 {
        return Err(ModelError::EmptyTestSet.into());
    }
    if positives == 0 || positives == total {
        return Err(ModelError::OneClassTest { positives, total }.into());
    }
    Ok(())
}

/// Indices sorted by score, highest first, ties in row order: the order of
/// a stable sort by `f64::total_cmp`.
///
/// Sorted as (key, row) pairs, the key the score's bits in total order, on
/// every core: an index sort that looked each score up as it compared ran
/// several times over the 30 million test rows of 1,000,000 users.
pub fn by_score_desc(p: &[f64]) -> Vec<usize> {
    use rayon::prelude::*;
    // f64::total_cmp's key, negated (!k reverses the order of an i64).
    let key = |s: f64| {
        let bits = s.to_bits() as i64;
        !(bits ^ (((bits >> 63) as u64) >> 1) as i64)
    };
    let mut keyed: Vec<(i64, usize)> = p.iter().enumerate().map(|(i, &s)| (key(s), i)).collect();
    keyed.par_sort_unstable();
    keyed.into_iter().map(|(_, i)| i).collect()
}

/// `order` (by score, highest first, ties in row order) turned to lowest
/// first, ties still in row order: what a stable ascending sort gives.
fn ascending(p: &[f64], order: &[usize]) -> Vec<usize> {
    let mut out = Vec::with_capacity(order.len());
    let mut end = order.len();
    while end > 0 {
        let mut start = end - 1;
        // equal bits: total_cmp's ties (-0.0 and 0.0 are two scores to it)
        while start > 0 && p[order[start - 1]].to_bits() == p[order[end - 1]].to_bits() {
            start -= 1;
        }
        out.extend_from_slice(&order[start..end]);
        end = start;
    }
    out
}

/// The PR and ROC curves at every distinct threshold, highest first:
/// (recall, precision) and (fpr, tpr), the ROC curve starting at (0, 0);
/// each thinned to the points `kept` names. The thresholds are counted
/// first and only the kept points are made: 30 million test rows have about
/// as many thresholds, two curves of which took gigabytes before thinning.
fn curves(y: &[f64], p: &[f64], order: &[usize], positives: usize) -> (Vec<CurvePoint>, Vec<CurvePoint>) {
    let negatives = y.len() - positives;
    let last_of_threshold = |k: usize| order.get(k + 1).is_none_or(|&j| p[j] != p[order[k]]);
    let thresholds = (0..order.len()).filter(|&k| last_of_threshold(k)).count();
    // Point t of the PR curve is threshold t; point t of the ROC curve is
    // threshold t - 1, after the origin.
    let (pr_keep, roc_keep) = (kept(thresholds), kept(thresholds + 1));
    let (mut pr_next, mut roc_next) = (pr_keep.iter().peekable(), roc_keep.iter().peekable());
    let mut pr = Vec::with_capacity(pr_keep.len());
    let mut roc = Vec::with_capacity(roc_keep.len());
    if roc_next.next_if_eq(&&0).is_some() {
        roc.push(CurvePoint {
            threshold: None,
            x: 0.0,
            y: 0.0,
        });
    }
    let (mut tp, mut fp, mut t) = (0usize, 0usize, 0usize);
    for (k, &i) in order.iter().enumerate() {
        if y[i] == 1.0 {
            tp += 1;
        } else {
            fp += 1;
        }
        if last_of_threshold(k) {
            if pr_next.next_if_eq(&&t).is_some() {
                pr.push(CurvePoint {
                    threshold: Some(p[i]),
                    x: tp as f64 / positives as f64,
                    y: tp as f64 / (tp + fp) as f64,
                });
            }
            if roc_next.next_if_eq(&&(t + 1)).is_some() {
                roc.push(CurvePoint {
                    threshold: Some(p[i]),
                    x: fp as f64 / negatives as f64,
                    y: tp as f64 / positives as f64,
                });
            }
            t += 1;
        }
    }
    (pr, roc)
}

/// Of a curve of `len` points, the indices it keeps: all of them up to
/// CURVE_POINTS, else CURVE_POINTS evenly spaced by index, ends kept.
fn kept(len: usize) -> Vec<usize> {
    if len <= CURVE_POINTS {
        return (0..len).collect();
    }
    let last = len - 1;
    let mut keep: Vec<usize> = (0..CURVE_POINTS)
        .map(|k| (k * last + (CURVE_POINTS - 1) / 2) / (CURVE_POINTS - 1))
        .collect();
    keep.dedup();
    keep
}

/// Rows by score, highest first, cut at ceil(d·n/10) for d = 1..9 (the
/// first cut is the top 10% of `top10_precision`); empty groups are left out.
fn deciles(y: &[f64], p: &[f64], order: &[usize], base_rate: f64) -> Vec<Decile> {
    let n = y.len();
    let cut = |d: usize| (d * n).div_ceil(10);
    (1..=10)
        .filter_map(|d| {
            let members = &order[cut(d - 1)..cut(d)];
            if members.is_empty() {
                return None;
            }
            let positives = members.iter().filter(|&&i| y[i] == 1.0).count();
            let rate = positives as f64 / members.len() as f64;
            Some(Decile {
                decile: d,
                count: members.len(),
                positives,
                min_score: members.iter().map(|&i| p[i]).fold(f64::INFINITY, f64::min),
                max_score: members.iter().map(|&i| p[i]).fold(f64::NEG_INFINITY, f64::max),
                rate,
                lift: rate / base_rate,
            })
        })
        .collect()
}

/// Average precision: Σₖ (Rₖ − Rₖ₋₁)·Pₖ over the distinct score thresholds,
/// highest first (scikit-learn's `average_precision_score`).
pub fn average_precision(y: &[f64], p: &[f64]) -> Result<f64> {
    let positives = check(y, p)?;
    Ok(average_precision_in(y, p, &by_score_desc(p), positives))
}

/// `average_precision` with the rows already in `by_score_desc` order and
/// their `positives` counted.
fn average_precision_in(y: &[f64], p: &[f64], order: &[usize], positives: usize) -> f64 {
    let pos = positives as f64;
    let (mut tp, mut fp) = (0.0, 0.0);
    let mut prev_recall = 0.0;
    let mut ap = 0.0;
    let mut i = 0;
    while i < order.len() {
        let t = p[order[i]];
        while i < order.len() && p[order[i]] == t {
            if y[order[i]] == 1.0 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let recall = tp / pos;
        let precision = tp / (tp + fp);
        ap += (recall - prev_recall) * precision;
        prev_recall = recall;
    }
    ap
}

/// The ranking within one segment of the test rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub name: String,
    pub rows: usize,
    pub positives: usize,
    /// None when the segment holds one class only (or no row).
    pub pr_auc: Option<f64>,
    /// The segment's churn rate: the PR-AUC of ranking it at random.
    pub base_rate: f64,
}

/// The PR-AUC of the rows `keep` selects, ranked by `p` among themselves.
pub fn segment(name: &str, y: &[f64], p: &[f64], keep: impl Fn(usize) -> bool) -> Segment {
    let (ys, ps): (Vec<f64>, Vec<f64>) = (0..y.len()).filter(|&i| keep(i)).map(|i| (y[i], p[i])).unzip();
    let positives = ys.iter().filter(|&&v| v == 1.0).count();
    Segment {
        name: name.to_string(),
        rows: ys.len(),
        positives,
        pr_auc: average_precision(&ys, &ps).ok(),
        base_rate: positives as f64 / ys.len().max(1) as f64,
    }
}

/// For each of `fractions`, the share of that fraction of the highest-scored
/// rows (at least one) for which `flag` holds; ties at the cut are broken by
/// row order. One sort serves every fraction.
pub fn top_shares(p: &[f64], flag: &[bool], fractions: &[f64]) -> Vec<f64> {
    let order = by_score_desc(p);
    fractions
        .iter()
        .map(|&fraction| {
            let n = ((p.len() as f64 * fraction).ceil() as usize).clamp(1, p.len().max(1));
            order.iter().take(n).filter(|&&i| flag[i]).count() as f64 / n as f64
        })
        .collect()
}

/// ROC-AUC as the Mann–Whitney statistic with tied scores given their
/// average rank (equal to scikit-learn's trapezoidal `roc_auc_score`).
pub fn roc_auc(y: &[f64], p: &[f64]) -> Result<f64> {
    let positives = check(y, p)?;
    Ok(roc_auc_in(y, p, &ascending(p, &by_score_desc(p)), positives))
}

/// `roc_auc` with the rows in ascending order of score and their
/// `positives` counted.
fn roc_auc_in(y: &[f64], p: &[f64], idx: &[usize], positives: usize) -> f64 {
    let pos = positives as f64;
    let neg = y.len() as f64 - pos;
    let mut rank_sum_pos = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j < idx.len() && p[idx[j]] == p[idx[i]] {
            j += 1;
        }
        let avg_rank = (i + 1 + j) as f64 / 2.0; // ranks i+1 ..= j
        rank_sum_pos += idx[i..j].iter().filter(|&&k| y[k] == 1.0).count() as f64 * avg_rank;
        i = j;
    }
    (rank_sum_pos - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Mean log loss with scores clipped to [ε, 1 − ε], ε = f64::EPSILON.
pub fn log_loss(y: &[f64], p: &[f64]) -> f64 {
    let eps = f64::EPSILON;
    let total: f64 = y
        .iter()
        .zip(p)
        .map(|(&y, &p)| {
            let p = p.clamp(eps, 1.0 - eps);
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum();
    total / y.len() as f64
}

/// Expected calibration error: the rows sorted by score in `bins` groups
/// of (nearly) equal size, group b holding the sorted rows ⌊b·n/bins⌋ to
/// ⌊(b+1)·n/bins⌋ − 1; ECE = Σ (n_b / n)·|mean score_b − observed rate_b|.
/// Returns the ECE and the groups (lower/upper: their score range).
pub fn expected_calibration_error(y: &[f64], p: &[f64], bins: usize) -> (f64, Vec<CalibrationBin>) {
    calibration_error_in(y, p, &ascending(p, &by_score_desc(p)), bins)
}

/// `expected_calibration_error` with the rows in ascending order of score.
fn calibration_error_in(y: &[f64], p: &[f64], order: &[usize], bins: usize) -> (f64, Vec<CalibrationBin>) {
    let n = y.len();
    let mut ece = 0.0;
    let mut groups = Vec::with_capacity(bins);
    for b in 0..bins {
        let rows = &order[b * n / bins..(b + 1) * n / bins];
        if rows.is_empty() {
            continue;
        }
        let count = rows.len();
        let mean_p = rows.iter().map(|&i| p[i]).sum::<f64>() / count as f64;
        let rate = rows.iter().map(|&i| y[i]).sum::<f64>() / count as f64;
        ece += count as f64 / n as f64 * (mean_p - rate).abs();
        groups.push(CalibrationBin {
            lower: p[rows[0]],
            upper: p[rows[count - 1]],
            count,
            mean_predicted: Some(mean_p),
            observed_rate: Some(rate),
        });
    }
    (ece, groups)
}

/// Brier score and log loss of predicting the constant `rate` for every row.
pub fn constant_scores(y: &[f64], rate: f64) -> (f64, f64) {
    let p = vec![rate; y.len()];
    (brier(y, &p), log_loss(y, &p))
}

/// Mean squared difference between score and label.
pub fn brier(y: &[f64], p: &[f64]) -> f64 {
    y.iter().zip(p).map(|(&y, &p)| (p - y).powi(2)).sum::<f64>() / y.len() as f64
}

/// All metrics; predicted positive means score > 0.5 (scikit-learn's `predict`).
pub fn evaluate(y: &[f64], p: &[f64]) -> Result<Metrics> {
    let positives = check(y, p)?;
    let n = y.len();
    let mut c = Confusion {
        tn: 0,
        fp: 0,
        fn_: 0,
        tp: 0,
    };
    for (&y, &p) in y.iter().zip(p) {
        match (y == 1.0, p > 0.5) {
            (true, true) => c.tp += 1,
            (true, false) => c.fn_ += 1,
            (false, true) => c.fp += 1,
            (false, false) => c.tn += 1,
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let precision = ratio(c.tp, c.tp + c.fp);
    let recall = ratio(c.tp, c.tp + c.fn_);
    let f1 = if precision + recall == 0.0 {
        0.0
    } else {
        2.0 * precision * recall / (precision + recall)
    };
    let base_rate = positives as f64 / n as f64;
    // One sort serves every figure that ranks the rows.
    let order = by_score_desc(p);
    let rising = ascending(p, &order);
    let k = n.div_ceil(10);
    let top_hits = order[..k].iter().filter(|&&i| y[i] == 1.0).count();
    let top10_precision = top_hits as f64 / k as f64;
    // Fixed-width bins of the score, summed in one pass in row order (the
    // order a pass per bin summed them in).
    let mut bins = [(0usize, 0.0f64, 0.0f64); 10];
    for (&y, &p) in y.iter().zip(p) {
        let bin = &mut bins[((p * 10.0).floor() as usize).min(9)];
        *bin = (bin.0 + 1, bin.1 + p, bin.2 + y);
    }
    let calibration = bins
        .iter()
        .enumerate()
        .map(|(b, &(count, sum_p, sum_y))| {
            let mean = |sum: f64| (count > 0).then(|| sum / count as f64);
            CalibrationBin {
                lower: b as f64 / 10.0,
                upper: (b + 1) as f64 / 10.0,
                count,
                mean_predicted: mean(sum_p),
                observed_rate: mean(sum_y),
            }
        })
        .collect();
    let (pr_curve, roc_curve) = curves(y, p, &order, positives);
    let (ece, reliability) = calibration_error_in(y, p, &rising, 10);
    let (brier_constant, log_loss_constant) = constant_scores(y, base_rate);
    Ok(Metrics {
        n,
        positives,
        base_rate,
        pr_auc: average_precision_in(y, p, &order, positives),
        roc_auc: roc_auc_in(y, p, &rising, positives),
        log_loss: log_loss(y, p),
        brier: brier(y, p),
        mean_predicted: p.iter().sum::<f64>() / n as f64,
        ece,
        reliability,
        brier_constant,
        log_loss_constant,
        precision_at_05: precision,
        recall_at_05: recall,
        f1_at_05: f1,
        confusion: c,
        top10_precision,
        top10_lift: top10_precision / base_rate,
        calibration,
        pr_curve,
        roc_curve,
        deciles: deciles(y, p, &order, base_rate),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinned_curves_are_the_full_curves_points() {
        // 3,000 rows on 1,000 score levels (ties), so both curves are thinned.
        let y: Vec<f64> = (0..3000)
            .map(|i| f64::from(u8::from(i % 7 == 0 || i % 11 == 0)))
            .collect();
        let p: Vec<f64> = (0..3000).map(|i| ((i * 37) % 1000) as f64 / 1000.0).collect();
        let positives = y.iter().filter(|&&v| v == 1.0).count();
        let order = by_score_desc(&p);
        // Every point, threshold by threshold, as the definition says.
        let (mut full_pr, mut full_roc) = (Vec::new(), vec![(None, 0.0, 0.0)]);
        let (mut tp, mut fp) = (0.0, 0.0);
        for (k, &i) in order.iter().enumerate() {
            if y[i] == 1.0 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            if k + 1 == order.len() || p[order[k + 1]] != p[i] {
                full_pr.push((Some(p[i]), tp / positives as f64, tp / (tp + fp)));
                full_roc.push((Some(p[i]), fp / (3000 - positives) as f64, tp / positives as f64));
            }
        }
        assert_eq!(full_pr.len(), 1000);
        let (pr, roc) = curves(&y, &p, &order, positives);
        let points = |c: &[CurvePoint]| c.iter().map(|q| (q.threshold, q.x, q.y)).collect::<Vec<_>>();
        let expected_pr: Vec<_> = kept(full_pr.len()).into_iter().map(|k| full_pr[k]).collect();
        let expected_roc: Vec<_> = kept(full_roc.len()).into_iter().map(|k| full_roc[k]).collect();
        assert_eq!(points(&pr), expected_pr);
        assert_eq!(points(&roc), expected_roc);
        assert_eq!(pr.len(), CURVE_POINTS);
        assert_eq!(roc.first().map(|q| q.threshold), Some(None));
        assert_eq!(roc.last().map(|q| (q.x, q.y)), Some((1.0, 1.0)));
    }

    #[test]
    fn the_keyed_orders_are_a_stable_sorts_orders() {
        // Ties (0.5 three times, 0.0 and -0.0, which total_cmp tells apart),
        // negative scores and a spread of values, in scrambled row order.
        let mut p = vec![0.5, -0.0, 0.25, 0.5, 0.0, -1.5, 0.5, 0.0, -0.0, 2.0, 0.25, -1.5];
        p.extend((0..500).map(|i| ((i * 7919) % 97) as f64 / 13.0 - 3.0));
        let mut stable: Vec<usize> = (0..p.len()).collect();
        stable.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let order = by_score_desc(&p);
        assert_eq!(order, stable);
        let mut rising: Vec<usize> = (0..p.len()).collect();
        rising.sort_by(|&a, &b| p[a].total_cmp(&p[b]));
        assert_eq!(ascending(&p, &order), rising);
    }

    #[test]
    fn a_segment_is_ranked_among_itself_and_the_top_share_counts_the_cut() {
        // Rows 0..6, scores falling; the segment keeps the even rows:
        // labels 1, 0, 1 at scores .9, .7, .5 → AP = (1 + 2/3) / 2.
        let y = [1.0, 1.0, 0.0, 0.0, 1.0, 0.0];
        let p = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4];
        let s = segment("even", &y, &p, |i| i % 2 == 0);
        assert_eq!((s.rows, s.positives), (3, 2));
        assert!((s.pr_auc.unwrap() - (1.0 + 2.0 / 3.0) / 2.0).abs() < 1e-15);
        assert!((s.base_rate - 2.0 / 3.0).abs() < 1e-15);
        // One class only: no PR-AUC, still counted.
        let none = segment("odd negatives", &y, &p, |i| i == 3 || i == 5);
        assert_eq!((none.rows, none.positives, none.pr_auc), (2, 0, None));
        // The top half (3 rows) holds rows 0, 1, 2: two of them flagged.
        let flag = [true, false, true, true, true, true];
        let shares = top_shares(&p, &flag, &[0.5, 0.01]);
        assert!((shares[0] - 2.0 / 3.0).abs() < 1e-15);
        // At least one row: the top 1% of six rows is row 0.
        assert_eq!(shares[1], 1.0);
    }

    /// Data the metrics cannot measure is refused with a typed error that
    /// says what to change.
    #[test]
    fn unmeasurable_test_sets_are_named() {
        use crate::error::{Error, ModelError};
        let kind = |r: Result<f64>| match r {
            Err(Error::Model(e)) => e,
            other => panic!("expected a ModelError, got {other:?}"),
        };
        assert_eq!(
            kind(average_precision(&[1.0, 0.0], &[0.5])),
            ModelError::Lengths { labels: 2, scores: 1 }
        );
        assert_eq!(kind(roc_auc(&[], &[])), ModelError::EmptyTestSet);
        assert_eq!(
            kind(roc_auc(&[1.0, 0.0], &[f64::NAN, 0.1])),
            ModelError::NonFiniteScore
        );
        let one_class = kind(average_precision(&[0.0, 0.0], &[0.2, 0.1]));
        assert_eq!(
            one_class,
            ModelError::OneClassTest {
                positives: 0,
                total: 2
            }
        );
        assert!(
            one_class.to_string().contains("a larger test_fraction"),
            "{one_class}"
        );
    }

    fn xy(points: &[CurvePoint]) -> Vec<(f64, f64)> {
        points.iter().map(|c| (c.x, c.y)).collect()
    }

    #[test]
    fn curves_and_deciles_by_hand() {
        // Scores 0.9 (pos), 0.8 (neg), 0.7 (pos), 0.7 (neg), 0.1 (neg).
        let y = [1.0, 0.0, 1.0, 0.0, 0.0];
        let p = [0.9, 0.8, 0.7, 0.7, 0.1];
        let m = evaluate(&y, &p).unwrap();
        // The tie at 0.7 is one threshold: both rows enter together.
        assert_eq!(xy(&m.pr_curve), [(0.5, 1.0), (0.5, 0.5), (1.0, 0.5), (1.0, 0.4)]);
        assert_eq!(
            xy(&m.roc_curve),
            [
                (0.0, 0.0),
                (0.0, 0.5),
                (1.0 / 3.0, 0.5),
                (2.0 / 3.0, 1.0),
                (1.0, 1.0)
            ]
        );
        assert_eq!(m.roc_curve[0].threshold, None);
        assert_eq!(m.pr_curve[2].threshold, Some(0.7));
        // n = 5: cuts at ceil(5d/10) = 1, 1, 2, 2, 3, 3, 4, 4, 5 -> five
        // non-empty groups of one row: deciles 1, 3, 5, 7, 9.
        let d: Vec<(usize, usize, f64)> = m
            .deciles
            .iter()
            .map(|d| (d.decile, d.positives, d.lift))
            .collect();
        assert_eq!(
            d,
            [(1, 1, 2.5), (3, 0, 0.0), (5, 1, 2.5), (7, 0, 0.0), (9, 0, 0.0)]
        );
        assert_eq!(m.deciles[0].rate, m.top10_precision);
    }

    #[test]
    fn long_curves_are_thinned_keeping_both_ends() {
        let n = 1000;
        let y: Vec<f64> = (0..n).map(|i| (i % 3 == 0) as u8 as f64).collect();
        let p: Vec<f64> = (0..n).map(|i| (i as f64 + 0.5) / n as f64).collect();
        let m = evaluate(&y, &p).unwrap();
        assert_eq!(m.pr_curve.len(), CURVE_POINTS);
        assert_eq!(m.roc_curve.len(), CURVE_POINTS);
        assert_eq!(m.roc_curve.first().unwrap().threshold, None);
        assert_eq!(xy(&m.roc_curve[CURVE_POINTS - 1..]), [(1.0, 1.0)]);
        assert_eq!(m.pr_curve.first().unwrap().threshold, Some(p[n - 1]));
        assert!(m.deciles.iter().all(|d| d.count == 100));
    }
    use approx::assert_abs_diff_eq;
    use serde_json::Value;

    fn fixture() -> (Vec<f64>, Vec<f64>, Value) {
        let r: Value =
            serde_json::from_str(include_str!("../../tests/fixtures/sklearn_reference.json")).unwrap();
        let m = r["metrics"].clone();
        let v = |k: &str| {
            m[k].as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect::<Vec<_>>()
        };
        (v("y"), v("p"), m)
    }

    #[test]
    fn metrics_match_scikit_learn_with_ties() {
        let (y, p, m) = fixture();
        let got = evaluate(&y, &p).unwrap();
        let want = |k: &str| m[k].as_f64().unwrap();
        assert_abs_diff_eq!(got.pr_auc, want("average_precision"), epsilon = 1e-12);
        assert_abs_diff_eq!(got.roc_auc, want("roc_auc"), epsilon = 1e-12);
        assert_abs_diff_eq!(got.log_loss, want("log_loss"), epsilon = 1e-12);
        assert_abs_diff_eq!(got.brier, want("brier"), epsilon = 1e-12);
        assert_abs_diff_eq!(got.precision_at_05, want("precision"), epsilon = 1e-12);
        assert_abs_diff_eq!(got.recall_at_05, want("recall"), epsilon = 1e-12);
        assert_abs_diff_eq!(got.f1_at_05, want("f1"), epsilon = 1e-12);
    }

    #[test]
    fn confusion_top_decile_and_calibration_by_hand() {
        let (y, p, _) = fixture();
        let got = evaluate(&y, &p).unwrap();
        // Scores above 0.5: 0.9 0.8 0.8 0.7 0.7 0.7 0.6 0.55 -> labels 1 0 1 1 0 0 1 0.
        assert_eq!(
            got.confusion,
            Confusion {
                tn: 9,
                fp: 4,
                fn_: 3,
                tp: 4
            }
        );
        // Top 10% = 2 rows: 0.9 (1) and the first 0.8 in input order (0).
        assert_abs_diff_eq!(got.top10_precision, 0.5, epsilon = 1e-12);
        assert_abs_diff_eq!(got.top10_lift, 0.5 / (7.0 / 20.0), epsilon = 1e-12);
        let counts: Vec<usize> = got.calibration.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![2, 2, 2, 3, 2, 2, 1, 3, 2, 1]);
        assert_abs_diff_eq!(got.calibration[9].mean_predicted.unwrap(), 0.9, epsilon = 1e-12);
        assert_abs_diff_eq!(got.calibration[8].observed_rate.unwrap(), 0.5, epsilon = 1e-12);
    }

    #[test]
    fn ece_by_hand() {
        // 10 rows, 5 groups of 2 sorted by score:
        //   (0.1, 0.1) y 0 0: |0.1 - 0| = 0.1;  (0.2, 0.3) y 0 1: |0.25 - 0.5| = 0.25
        //   (0.4, 0.5) y 0 0: 0.45;  (0.6, 0.7) y 1 1: 0.35;  (0.8, 0.9) y 1 0: 0.35
        // ECE = (0.1 + 0.25 + 0.45 + 0.35 + 0.35) / 5 = 0.3
        let p = [0.9, 0.1, 0.3, 0.5, 0.7, 0.2, 0.1, 0.4, 0.6, 0.8];
        let y = [0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0];
        let (ece, groups) = expected_calibration_error(&y, &p, 5);
        assert_abs_diff_eq!(ece, 0.3, epsilon = 1e-12);
        assert_eq!(groups.len(), 5);
        assert_eq!((groups[1].lower, groups[1].upper), (0.2, 0.3));
        assert_abs_diff_eq!(groups[4].observed_rate.unwrap(), 0.5, epsilon = 1e-12);
        // A perfectly calibrated constant: ECE 0; 7 rows in 3 groups of 2, 2, 3.
        let (ece, groups) = expected_calibration_error(&[1.0, 0.0, 0.0, 1.0], &[0.5; 4], 2);
        assert_eq!(ece, 0.0);
        assert_eq!(groups.len(), 2);
        let (_, groups) = expected_calibration_error(&[0.0; 7], &[0.1; 7], 3);
        assert_eq!(groups.iter().map(|g| g.count).collect::<Vec<_>>(), [2, 2, 3]);
        // The constant predictor of the observed rate r: Brier r(1 - r).
        let (b, l) = constant_scores(&[1.0, 0.0, 0.0, 0.0], 0.25);
        assert_abs_diff_eq!(b, 0.1875, epsilon = 1e-15);
        assert_abs_diff_eq!(l, -(0.25f64.ln() + 3.0 * 0.75f64.ln()) / 4.0, epsilon = 1e-15);
    }

    #[test]
    fn auc_of_perfect_and_reversed_rankings() {
        let y = [0.0, 0.0, 1.0, 1.0];
        assert_abs_diff_eq!(roc_auc(&y, &[0.1, 0.2, 0.8, 0.9]).unwrap(), 1.0);
        assert_abs_diff_eq!(roc_auc(&y, &[0.9, 0.8, 0.2, 0.1]).unwrap(), 0.0);
        assert_abs_diff_eq!(roc_auc(&y, &[0.5; 4]).unwrap(), 0.5);
        assert_abs_diff_eq!(average_precision(&y, &[0.1, 0.2, 0.8, 0.9]).unwrap(), 1.0);
        assert_abs_diff_eq!(average_precision(&y, &[0.5; 4]).unwrap(), 0.5);
    }

    #[test]
    fn degenerate_inputs_are_errors_not_nan() {
        assert!(evaluate(&[], &[]).unwrap_err().to_string().contains("empty"));
        assert!(
            evaluate(&[1.0, 1.0], &[0.2, 0.3])
                .unwrap_err()
                .to_string()
                .contains("one class")
        );
        assert!(evaluate(&[1.0, 0.0], &[0.2]).is_err());
        assert!(evaluate(&[1.0, 0.0], &[f64::NAN, 0.1]).is_err());
    }
}
