//! Single-input baselines: every numeric input used alone as a ranker, in
//! both directions, on the same rows as the model. A model worth serving
//! must rank better than the best of them (DESIGN §3).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::data::Frame;
use crate::model::metrics::average_precision;

/// Which way a single input ranks the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher values mean higher risk.
    Higher,
    /// Lower values mean higher risk.
    Lower,
}

/// One input used alone as a ranker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub feature: String,
    pub direction: Direction,
    pub pr_auc: f64,
}

impl Baseline {
    /// "days_since_last_activity (higher = riskier)".
    pub fn describe(&self) -> String {
        let way = match self.direction {
            Direction::Higher => "higher",
            Direction::Lower => "lower",
        };
        format!("{} ({way} = riskier)", self.feature)
    }
}

/// The ranking score of one numeric column on `rows`: the value, a NULL
/// taking the mean of the column's values on these rows (a neutral rank).
fn column_scores(frame: &Frame, j: usize, rows: &[usize]) -> Vec<f64> {
    let column = frame.numeric.column(j);
    let (sum, n) = rows
        .iter()
        .map(|&i| column[i])
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    let mean = if n > 0 { sum / n as f64 } else { 0.0 };
    rows.iter()
        .map(|&i| if column[i].is_nan() { mean } else { column[i] })
        .collect()
}

/// The scores `baseline` ranks `rows` by (its column, negated when lower
/// values mean higher risk).
pub fn ranking_scores(frame: &Frame, rows: &[usize], baseline: &Baseline) -> Vec<f64> {
    let Some(j) = frame.numeric_index(&baseline.feature) else {
        return vec![0.0; rows.len()];
    };
    let scores = column_scores(frame, j, rows);
    match baseline.direction {
        Direction::Higher => scores,
        Direction::Lower => scores.into_iter().map(|v| -v).collect(),
    }
}

/// Average precision of rows already in ranking order (highest score
/// first), ties (equal `value`) entering together: Σ (Rₖ − Rₖ₋₁)·Pₖ, as
/// `metrics::average_precision`.
fn ranked_average_precision<'a>(ranked: impl Iterator<Item = &'a (f64, f64)>, positives: f64) -> f64 {
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0, 0.0, 0.0, 0.0);
    let mut ranked = ranked.peekable();
    while let Some(&(value, label)) = ranked.next() {
        tp += label;
        fp += 1.0 - label;
        if ranked.peek().is_none_or(|next| next.0 != value) {
            let recall = tp / positives;
            ap += (recall - prev_recall) * tp / (tp + fp);
            prev_recall = recall;
        }
    }
    ap
}

/// PR-AUC of every numeric input of `frame` on `rows`, in both directions,
/// best first (ties by name, then direction). One sort per input serves
/// both directions; the inputs are ranked in parallel.
pub fn single_inputs(frame: &Frame, rows: &[usize]) -> Result<Vec<Baseline>> {
    use rayon::prelude::*;
    let labels: Vec<f64> = rows.iter().map(|&i| frame.label[i]).collect();
    // The one-class and empty cases are errors, as for the model's metrics.
    let positives = labels.iter().sum::<f64>();
    if positives == 0.0 || positives == labels.len() as f64 {
        average_precision(&labels, &vec![0.0; labels.len()])?;
    }
    let mut out: Vec<Baseline> = frame
        .numeric_names
        .par_iter()
        .enumerate()
        .flat_map_iter(|(j, name)| {
            let mut pairs: Vec<(f64, f64)> = column_scores(frame, j, rows)
                .into_iter()
                .zip(labels.iter().copied())
                .collect();
            pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
            let higher = ranked_average_precision(pairs.iter().rev(), positives);
            let lower = ranked_average_precision(pairs.iter(), positives);
            [
                Baseline {
                    feature: name.clone(),
                    direction: Direction::Higher,
                    pr_auc: higher,
                },
                Baseline {
                    feature: name.clone(),
                    direction: Direction::Lower,
                    pr_auc: lower,
                },
            ]
        })
        .collect();
    out.sort_by(|a, b| {
        b.pr_auc
            .total_cmp(&a.pr_auc)
            .then_with(|| a.feature.cmp(&b.feature))
            .then_with(|| (a.direction as u8).cmp(&(b.direction as u8)))
    });
    Ok(out)
}

/// The best single input on `rows`, if the frame has any numeric input.
pub fn best_single_input(frame: &Frame, rows: &[usize]) -> Result<Option<Baseline>> {
    Ok(single_inputs(frame, rows)?.into_iter().next())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn frame(columns: &[(&str, &[f64])], label: &[f64]) -> Frame {
        let n = label.len();
        let p = columns.len();
        let numeric = Array2::from_shape_fn((n, p), |(i, j)| columns[j].1[i]);
        Frame {
            user: (0..n as u32).collect(),
            users: (0..n).map(|i| format!("u{i}")).collect(),
            as_of: vec![0; n],
            numeric_names: columns.iter().map(|(c, _)| c.to_string()).collect(),
            numeric,
            categorical: vec![vec![0; n]; crate::model::data::CATEGORICAL.len()],
            levels: vec![Vec::new(); crate::model::data::CATEGORICAL.len()],
            label: label.to_vec(),
        }
    }

    #[test]
    fn both_directions_are_tried_and_the_best_wins() {
        // `silence` ranks the two positives first when higher = riskier
        // (PR-AUC 1); `usage` does when lower = riskier (also 1, and it sorts
        // by name after silence). `noise` is in between.
        let label = [1.0, 1.0, 0.0, 0.0, 0.0];
        let f = frame(
            &[
                ("usage", &[0.0, 1.0, 5.0, 6.0, 7.0]),
                ("silence", &[9.0, 8.0, 1.0, 2.0, 3.0]),
                ("noise", &[3.0, 1.0, 2.0, 5.0, 4.0]),
            ],
            &label,
        );
        let all = single_inputs(&f, &[0, 1, 2, 3, 4]).unwrap();
        assert_eq!(all.len(), 6);
        assert_eq!(
            (all[0].feature.as_str(), all[0].direction, all[0].pr_auc),
            ("silence", Direction::Higher, 1.0)
        );
        assert_eq!(
            (all[1].feature.as_str(), all[1].direction, all[1].pr_auc),
            ("usage", Direction::Lower, 1.0)
        );
        // noise, higher: ranks 5, 4, 3, 2, 1 -> labels 0 0 1 0 1:
        // AP = 1/2 * 1/3 + 1/2 * 2/5 = 0.3666...
        let noise = all
            .iter()
            .find(|b| b.feature == "noise" && b.direction == Direction::Higher)
            .unwrap();
        assert!(
            (noise.pr_auc - (1.0 / 6.0 + 1.0 / 5.0)).abs() < 1e-12,
            "{}",
            noise.pr_auc
        );
    }

    #[test]
    fn one_sort_gives_both_directions_as_the_metric_does() {
        // Many ties: values on a coarse grid.
        let n = 400;
        let x: Vec<f64> = (0..n).map(|i| ((i * 37 % 11) as f64).sqrt().round()).collect();
        let y: Vec<f64> = (0..n).map(|i| f64::from(i % 7 == 0 || i % 11 == 3)).collect();
        let f = frame(&[("x", &x)], &y);
        let rows: Vec<usize> = (0..n).collect();
        let all = single_inputs(&f, &rows).unwrap();
        let neg: Vec<f64> = x.iter().map(|v| -v).collect();
        for b in all {
            let want = match b.direction {
                Direction::Higher => average_precision(&y, &x).unwrap(),
                Direction::Lower => average_precision(&y, &neg).unwrap(),
            };
            assert!((b.pr_auc - want).abs() < 1e-12, "{b:?} vs {want}");
        }
        assert!(single_inputs(&frame(&[("x", &[1.0, 2.0])], &[1.0, 1.0]), &[0, 1]).is_err());
    }

    #[test]
    fn nulls_rank_at_the_mean() {
        // NaN takes the mean 2 of (1, 3): ranks 3 > NaN(2) > 1.
        let f = frame(&[("x", &[3.0, f64::NAN, 1.0])], &[1.0, 1.0, 0.0]);
        let best = best_single_input(&f, &[0, 1, 2]).unwrap().unwrap();
        assert_eq!((best.direction, best.pr_auc), (Direction::Higher, 1.0));
    }
}
