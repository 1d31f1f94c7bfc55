//! Single-input baselines: every numeric input used alone as a ranker, in
//! both directions, on the same rows as the model. A model worth serving
//! must rank better than the best of them (docs/design.md §3).

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::model::frame::Frame;
#[cfg(test)]
use crate::model::metrics::average_precision;
use crate::model::metrics::check_classes;

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
    /// The score this baseline ranks a row by: the input's value, a NULL
    /// at `null_value` (the mean, a neutral rank), negated when lower
    /// values mean higher risk.
    pub fn ranking_score(&self, value: f64, null_value: f64) -> f64 {
        let v = if value.is_nan() { null_value } else { value };
        match self.direction {
            Direction::Higher => v,
            Direction::Lower => -v,
        }
    }

    /// "days_since_last_activity (higher = riskier)".
    pub fn describe(&self) -> String {
        let way = match self.direction {
            Direction::Higher => "higher",
            Direction::Lower => "lower",
        };
        format!("{} ({way} = riskier)", self.feature)
    }
}

/// A hasher for f64 bit patterns: one multiply, folded so that the low
/// bits (the bucket) depend on every bit of the key (small whole numbers
/// as f64 differ only in their high bits).
#[derive(Default, Clone, Copy)]
struct BitsHasher(u64);

impl std::hash::Hasher for BitsHasher {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 32)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).rotate_left(5);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Value bits to [negative, positive] rows: 16 bytes an entry, as the
/// distinct values of a continuous input over tens of millions of test rows
/// are most of them.
type BitsMap = std::collections::HashMap<u64, [u32; 2], std::hash::BuildHasherDefault<BitsHasher>>;

/// One input's counts: negative and positive rows per distinct value, the
/// NULL rows apart (they rank at the mean of the values).
#[derive(Default, Clone)]
struct ColumnTally {
    counts: BitsMap,
    nulls: [u64; 2],
    sum: f64,
    n: u64,
}

/// Every numeric input's rows counted by value and label, a chunk of rows
/// at a time: the exact single-input PR-AUCs of rows that are never all in
/// memory at once (the test rows of a million users).
#[derive(Clone)]
pub struct Tally {
    names: Vec<String>,
    columns: Vec<ColumnTally>,
}

impl Tally {
    pub fn new(names: &[String]) -> Tally {
        Tally {
            names: names.to_vec(),
            columns: vec![ColumnTally::default(); names.len()],
        }
    }

    /// Counts `rows` of `frame`, which has every input of the tally.
    pub fn add(&mut self, frame: &Frame, rows: &[usize]) {
        use rayon::prelude::*;
        let index: Vec<Option<usize>> = self.names.iter().map(|n| frame.numeric_index(n)).collect();
        self.columns.par_iter_mut().zip(index).for_each(|(tally, j)| {
            let Some(j) = j else { return };
            let column = frame.numeric.column(j);
            for &i in rows {
                let class = usize::from(frame.label[i] == 1.0);
                let v = column[i];
                if v.is_nan() {
                    tally.nulls[class] += 1;
                } else {
                    tally.sum += v;
                    tally.n += 1;
                    // -0.0 and 0.0 are one value.
                    tally.counts.entry((v + 0.0).to_bits()).or_default()[class] += 1;
                }
            }
        });
    }

    /// The value a NULL of `feature` ranks at: the mean of its values (0
    /// when it has none).
    pub fn null_value(&self, feature: &str) -> Option<f64> {
        let j = self.names.iter().position(|n| n == feature)?;
        let c = &self.columns[j];
        Some(if c.n > 0 { c.sum / c.n as f64 } else { 0.0 })
    }

    /// PR-AUC of every input in both directions, best first (ties by name,
    /// then direction).
    pub fn finish(&self) -> Result<Vec<Baseline>> {
        use rayon::prelude::*;
        let Some(first) = self.columns.first() else {
            return Ok(Vec::new());
        };
        let [negatives, positives] = first.counts.values().fold(first.nulls, |acc, c| {
            [acc[0] + u64::from(c[0]), acc[1] + u64::from(c[1])]
        });
        // The one-class and empty cases are errors, as for the model's metrics.
        check_classes(positives as usize, (positives + negatives) as usize)?;
        let positives = positives as f64;
        let mut out: Vec<Baseline> = self
            .columns
            .par_iter()
            .zip(&self.names)
            .flat_map_iter(|(tally, name)| {
                let mean = if tally.n > 0 {
                    tally.sum / tally.n as f64
                } else {
                    0.0
                };
                let mut groups: Vec<(f64, [u64; 2])> = tally
                    .counts
                    .iter()
                    .map(|(&bits, &[n, p])| (f64::from_bits(bits), [u64::from(n), u64::from(p)]))
                    .collect();
                if tally.nulls != [0, 0] {
                    match groups.iter_mut().find(|g| g.0 == mean) {
                        Some(g) => {
                            g.1[0] += tally.nulls[0];
                            g.1[1] += tally.nulls[1];
                        }
                        None => groups.push((mean + 0.0, tally.nulls)),
                    }
                }
                groups.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
                let higher = grouped_average_precision(groups.iter().rev(), positives);
                let lower = grouped_average_precision(groups.iter(), positives);
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
}

/// Average precision of tied groups already in ranking order (highest
/// score first), each group's rows entering together: Σ (Rₖ − Rₖ₋₁)·Pₖ, as
/// `metrics::average_precision`.
fn grouped_average_precision<'a>(groups: impl Iterator<Item = &'a (f64, [u64; 2])>, positives: f64) -> f64 {
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0, 0.0, 0.0, 0.0);
    for (_, [neg, pos]) in groups {
        tp += *pos as f64;
        fp += *neg as f64;
        if tp + fp > 0.0 {
            let recall = tp / positives;
            ap += (recall - prev_recall) * tp / (tp + fp);
            prev_recall = recall;
        }
    }
    ap
}

/// PR-AUC of every numeric input of `frame` on `rows`, in both directions,
/// best first (ties by name, then direction).
pub fn single_inputs(frame: &Frame, rows: &[usize]) -> Result<Vec<Baseline>> {
    let mut tally = Tally::new(&frame.numeric_names);
    tally.add(frame, rows);
    tally.finish()
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
            categorical: vec![vec![0; n]; crate::model::frame::CATEGORICAL.len()],
            levels: vec![Vec::new(); crate::model::frame::CATEGORICAL.len()],
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

    #[test]
    fn a_tally_of_chunks_is_the_tally_of_the_whole() {
        // Ties, NULLs, and a NULL mean (2) equal to a value of the column:
        // the NULL rows tie with the 2s.
        let x = [
            1.0,
            3.0,
            f64::NAN,
            2.0,
            2.0,
            f64::NAN,
            3.0,
            1.0,
            2.0,
            -0.0,
            0.0,
            4.0,
            4.0,
        ];
        let y = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let f = frame(&[("x", &x)], &y);
        let mut tally = Tally::new(&["x".to_string()]);
        for rows in [&[0usize, 1, 2][..], &[3, 4, 5, 6], &[7, 8, 9, 10, 11, 12]] {
            tally.add(&f, rows);
        }
        let mean = 2.0;
        assert_eq!(tally.null_value("x"), Some(mean));
        let filled: Vec<f64> = x.iter().map(|&v| if v.is_nan() { mean } else { v }).collect();
        let negated: Vec<f64> = filled.iter().map(|v| -v).collect();
        let got = tally.finish().unwrap();
        assert_eq!(got.len(), 2);
        for b in &got {
            let want = match b.direction {
                Direction::Higher => average_precision(&y, &filled).unwrap(),
                Direction::Lower => average_precision(&y, &negated).unwrap(),
            };
            assert!((b.pr_auc - want).abs() < 1e-12, "{b:?} vs {want}");
        }
        let all: Vec<usize> = (0..x.len()).collect();
        assert_eq!(got, single_inputs(&f, &all).unwrap());
    }
}
