//! User-clustered bootstrap intervals for the ranking metrics. Rows of one
//! user are not independent (a churner is positive on many as-of dates), so
//! a resample draws users with replacement and takes all their rows: a row
//! weighs as many times as its user was drawn. Each metric is computed with
//! those weights on the rows sorted once, so a resample costs one pass.
//! The interval is the 2.5th to 97.5th percentile of the resampled values
//! (numpy's linear interpolation).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::model::metrics::by_score_desc;

/// A 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

/// The intervals of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intervals {
    pub resamples: u32,
    pub seed: u64,
    pub users: usize,
    pub pr_auc: Interval,
    pub roc_auc: Interval,
    /// PR-AUC of the model minus that of the baseline ranker.
    pub pr_auc_lift: Interval,
    pub baseline_pr_auc: Interval,
}

/// Rows sorted by score, highest first: their users and labels laid out in
/// that order (a resample then reads them front to back), and where each
/// run of equal scores ends.
struct Ranking {
    cluster: Vec<u32>,
    y: Vec<f64>,
    /// true at the last row of a run of equal scores.
    ends: Vec<bool>,
    /// Each user's positive rows: a resample's positive weight is read from
    /// the users, not from every row.
    positives: Vec<u32>,
}

impl Ranking {
    fn new(scores: &[f64], cluster: &[u32], y: &[f64]) -> Ranking {
        let order = by_score_desc(scores);
        let n = order.len();
        let ends = (0..n)
            .map(|k| k + 1 == n || scores[order[k]] != scores[order[k + 1]])
            .collect();
        let mut positives = vec![0u32; cluster.iter().map(|&c| c as usize + 1).max().unwrap_or(0)];
        for (&c, &y) in cluster.iter().zip(y) {
            positives[c as usize] += u32::from(y == 1.0);
        }
        Ranking {
            cluster: order.iter().map(|&i| cluster[i]).collect(),
            y: order.iter().map(|&i| y[i]).collect(),
            ends,
            positives,
        }
    }

    /// Weighted average precision and ROC-AUC, a row weighing
    /// `times[its user]`, in one pass over the rows: average
    /// precision Σ (Rₖ − Rₖ₋₁)·Pₖ over the distinct thresholds, tp and fp
    /// summed by weight; ROC-AUC the weight of (positive, negative) pairs
    /// ranked correctly, ties counting half, over all pairs' weight. None
    /// when the resample has no positive (or, for ROC-AUC, no negative).
    fn metrics(&self, times: &[u32]) -> (Option<f64>, Option<f64>) {
        // Whole numbers: the same sum, exact, as over the rows.
        let total: f64 = self
            .positives
            .iter()
            .zip(times)
            .map(|(&p, &t)| f64::from(p) * f64::from(t))
            .sum();
        let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0, 0.0, 0.0, 0.0);
        // Walking from the highest score, each negative loses to every
        // positive above it and ties with the positives of its own group.
        // (Weights are whole numbers: these sums are exact.)
        let (mut pos_above, mut pairs) = (0.0, 0.0);
        let (mut group_pos, mut group_neg) = (0.0, 0.0);
        for ((&c, &y), &end) in self.cluster.iter().zip(&self.y).zip(&self.ends) {
            let w = f64::from(times[c as usize]);
            tp += w * y;
            fp += w * (1.0 - y);
            if y == 1.0 {
                group_pos += w;
            } else {
                group_neg += w;
            }
            if end {
                if tp + fp > 0.0 && total > 0.0 {
                    let recall = tp / total;
                    ap += (recall - prev_recall) * tp / (tp + fp);
                    prev_recall = recall;
                }
                pairs += group_neg * (pos_above + 0.5 * group_pos);
                pos_above += group_pos;
                group_pos = 0.0;
                group_neg = 0.0;
            }
        }
        let ap = (total > 0.0).then_some(ap);
        let roc = (pos_above > 0.0 && fp > 0.0).then(|| pairs / (pos_above * fp));
        (ap, roc)
    }
}

/// numpy's percentile with linear interpolation, of sorted values.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn interval(mut values: Vec<f64>) -> Interval {
    values.sort_by(f64::total_cmp);
    Interval {
        low: percentile(&values, 0.025),
        high: percentile(&values, 0.975),
    }
}

/// Intervals for the model's PR-AUC and ROC-AUC and for its PR-AUC lift
/// over a baseline ranker, from `resamples` resamples of the users.
/// `cluster[i]` numbers the user of row i (0..users). None when there are
/// no resamples or no rows.
pub fn user_clustered(
    cluster: &[u32],
    y: &[f64],
    model: &[f64],
    baseline: &[f64],
    resamples: u32,
    seed: u64,
) -> Option<Intervals> {
    let users = cluster.iter().map(|&c| c as usize + 1).max().unwrap_or(0);
    if resamples == 0 || users == 0 {
        return None;
    }
    let by_model = Ranking::new(model, cluster, y);
    let by_baseline = Ranking::new(baseline, cluster, y);
    let draws: Vec<Option<(f64, f64, f64)>> = (0..resamples)
        .into_par_iter()
        .map(|r| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(u64::from(r));
            let mut times = vec![0u32; users];
            for _ in 0..users {
                times[rng.random_range(0..users)] += 1;
            }
            let (pr, roc) = by_model.metrics(&times);
            let (base, _) = by_baseline.metrics(&times);
            Some((pr?, roc?, base?))
        })
        .collect();
    let kept: Vec<(f64, f64, f64)> = draws.into_iter().flatten().collect();
    if kept.is_empty() {
        return None;
    }
    Some(Intervals {
        resamples,
        seed,
        users,
        pr_auc: interval(kept.iter().map(|d| d.0).collect()),
        roc_auc: interval(kept.iter().map(|d| d.1).collect()),
        pr_auc_lift: interval(kept.iter().map(|d| d.0 - d.2).collect()),
        baseline_pr_auc: interval(kept.iter().map(|d| d.2).collect()),
    })
}

/// Numbers the distinct values of `keys` 0.. in order of first appearance.
pub fn clusters<'a>(keys: impl IntoIterator<Item = &'a str>) -> Vec<u32> {
    let mut ids = std::collections::HashMap::new();
    keys.into_iter()
        .map(|k| {
            let next = ids.len() as u32;
            *ids.entry(k).or_insert(next)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::metrics::{average_precision, roc_auc};
    use approx::assert_abs_diff_eq;

    fn sample() -> (Vec<f64>, Vec<f64>) {
        // Ties on purpose: scores on a coarse grid.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let y: Vec<f64> = (0..500).map(|_| f64::from(rng.random::<f64>() < 0.2)).collect();
        let p: Vec<f64> = y
            .iter()
            .map(|&v| ((0.3 * v + rng.random::<f64>()) * 10.0).round() / 10.0)
            .collect();
        (y, p)
    }

    #[test]
    fn unit_weights_give_the_plain_metrics() {
        let (y, p) = sample();
        let own: Vec<u32> = (0..y.len() as u32).collect();
        let r = Ranking::new(&p, &own, &y);
        let ones = vec![1; y.len()];
        assert_abs_diff_eq!(
            r.metrics(&ones).0.unwrap(),
            average_precision(&y, &p).unwrap(),
            epsilon = 1e-12
        );
        assert_abs_diff_eq!(
            r.metrics(&ones).1.unwrap(),
            roc_auc(&y, &p).unwrap(),
            epsilon = 1e-12
        );
    }

    #[test]
    fn integer_weights_equal_repeated_rows() {
        let (y, p) = sample();
        let w: Vec<u32> = (0..y.len() as u32).map(|i| i % 3).collect();
        let (mut yy, mut pp) = (Vec::new(), Vec::new());
        for i in 0..y.len() {
            for _ in 0..w[i] {
                yy.push(y[i]);
                pp.push(p[i]);
            }
        }
        let own: Vec<u32> = (0..y.len() as u32).collect();
        let r = Ranking::new(&p, &own, &y);
        assert_abs_diff_eq!(
            r.metrics(&w).0.unwrap(),
            average_precision(&yy, &pp).unwrap(),
            epsilon = 1e-12
        );
        assert_abs_diff_eq!(
            r.metrics(&w).1.unwrap(),
            roc_auc(&yy, &pp).unwrap(),
            epsilon = 1e-12
        );
    }

    #[test]
    fn intervals_cover_the_estimate_and_repeat_with_the_seed() {
        let (y, p) = sample();
        let cluster: Vec<u32> = (0..y.len() as u32).map(|i| i / 5).collect();
        let base: Vec<f64> = p.iter().map(|v| (v * 3.0).round()).collect();
        let a = user_clustered(&cluster, &y, &p, &base, 200, 42).unwrap();
        let b = user_clustered(&cluster, &y, &p, &base, 200, 42).unwrap();
        assert_eq!(a, b);
        let pr = average_precision(&y, &p).unwrap();
        assert!(a.pr_auc.low < pr && pr < a.pr_auc.high, "{a:?} vs {pr}");
        assert!(a.pr_auc.high - a.pr_auc.low < 0.3);
        assert!(user_clustered(&cluster, &y, &p, &base, 0, 42).is_none());
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
        assert_eq!(clusters(["b", "a", "b", "c"]), [0, 1, 0, 2]);
    }
}
