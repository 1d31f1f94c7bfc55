//! The fitted input transform, as data: one term per model input.
//!
//! numeric term:     z = (t(x) − center) / scale, with NULL x read as center
//!                   (training mean), center/scale the training mean and
//!                   population std of t(x) after imputation; std 0 → term
//!                   dropped. t is the term's transform: x itself, or
//!                   ln(1 + x) (`log1p`, for a count or an amount: a column
//!                   non-negative on the training rows that exceeds 1),
//!                   which sees that a tenth login matters less than a
//!                   first. A log1p term sits beside the column's own.
//! day term:       z = (bit_i(x) − center) / scale on `active_day_bits`
//!                   (bit i: active i days before the as-of day), and
//!                   z = (bit_i(x) · y − center) / scale for the same bit
//!                   times `by`, the lifetime activity rate: which recent
//!                   days were quiet, weighed by how often the user is
//!                   usually active (a NULL x or y reads z = 0). The bits
//!                   column has no term of its own value.
//! categorical term: z = 1 when the value equals `category`, else 0 (an
//!                   unknown or NULL category is all zeros).
//! The intercept is a term of its own, z = 1.

use std::collections::BTreeSet;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::model::frame::{CATEGORICAL, Frame};
use crate::sql::{ACTIVE_DAY_BITS, ACTIVE_DAY_BITS_COLUMN};

/// How many days of `active_day_bits` value `bits` holds active (the
/// reading drift bins, and reasons say in words).
pub fn active_days(bits: f64) -> u32 {
    ((bits.max(0.0) as u64) & ((1 << ACTIVE_DAY_BITS) - 1)).count_ones()
}

/// What the day terms' bits are multiplied by.
pub const DAY_RATE: &str = "lifetime_activity_rate";

pub const INTERCEPT: &str = "(intercept)";

/// What a numeric term reads of its column's value.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// The value itself.
    #[default]
    Identity,
    /// ln(1 + max(x, 0)).
    Log1p,
    /// Bit i of max(x, 0) read as a whole number: 0 or 1.
    Bit(u8),
}

impl Transform {
    /// The name stored in `model_terms.transform` (NULL: identity).
    pub fn stored(self) -> Option<String> {
        match self {
            Transform::Identity => None,
            Transform::Log1p => Some("log1p".into()),
            Transform::Bit(i) => Some(format!("bit:{i}")),
        }
    }

    /// Reads `model_terms.transform`; an unknown name is refused by the
    /// caller (a newer file).
    pub fn from_stored(name: Option<&str>) -> Option<Transform> {
        match name {
            None | Some("identity") => Some(Transform::Identity),
            Some("log1p") => Some(Transform::Log1p),
            Some(other) => other
                .strip_prefix("bit:")
                .and_then(|i| i.parse::<u8>().ok())
                .filter(|&i| i < 53)
                .map(Transform::Bit),
        }
    }

    pub fn apply(self, x: f64) -> f64 {
        match self {
            Transform::Identity => x,
            // ln(1 + x), as SQL writes it (`sql/scoring/score.sql`): the same
            // bits in DuckDB, not ln_1p's.
            Transform::Log1p => (1.0 + x.max(0.0)).ln(),
            // floor(x / 2^i) mod 2, as SQL writes it.
            Transform::Bit(i) => ((x.max(0.0) as u64 >> i) & 1) as f64,
        }
    }

    /// Whether this reads one bit of `active_day_bits`.
    pub fn is_bit(self) -> bool {
        matches!(self, Transform::Bit(_))
    }

    /// The term's name for column `feature`.
    fn term_name(self, feature: &str) -> String {
        match self {
            Transform::Identity => feature.to_string(),
            Transform::Log1p => format!("log1p({feature})"),
            Transform::Bit(i) => format!("bit{i:02}({feature})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// "(intercept)", the numeric feature's name, or "feature=category".
    pub term: String,
    pub feature: Option<String>,
    pub category: Option<String>,
    pub center: f64,
    pub scale: f64,
    pub coefficient: f64,
    /// What a numeric term reads of its column (identity for the others).
    #[serde(default)]
    pub transform: Transform,
    /// A second numeric column the transformed value is multiplied by (a
    /// day term times the activity rate), or None.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

impl Term {
    /// The standardized value z of a numeric term for value `x` of its
    /// column (NaN: missing, imputed at the center, z = 0). The one
    /// definition every Rust scorer reads: the design matrix of training
    /// and batch scoring, and the API's margin (`sql/scoring/score.sql`
    /// writes the same in SQL).
    pub fn z(&self, x: f64) -> f64 {
        self.z_by(x, 1.0)
    }

    /// z of a term with a `by` column, whose value is `y` (NaN: missing,
    /// z = 0); for a term without one, `z(x)`.
    pub fn z_by(&self, x: f64, y: f64) -> f64 {
        if x.is_nan() || y.is_nan() {
            0.0
        } else {
            (self.transform.apply(x) * y - self.center) / self.scale
        }
    }

    pub fn is_intercept(&self) -> bool {
        self.feature.is_none()
    }

    pub fn is_categorical(&self) -> bool {
        self.category.is_some()
    }
}

/// The transform fitted on training rows: every input term, no coefficients.
#[derive(Debug, Clone)]
pub struct Preprocessor {
    /// Input terms in design-matrix column order (no intercept): numeric
    /// terms, then one-hot terms, each sorted by name.
    pub terms: Vec<Term>,
    /// Numeric columns dropped for a zero std.
    pub dropped: Vec<String>,
}

impl Preprocessor {
    /// The most numeric terms `fit` can make of these columns, known before
    /// any row is read (train sizes its sample by it, `train.max_values`):
    /// each column's own term and, with `log1p`, its log term; with
    /// `day_bits`, two per day of `active_day_bits`, which has no term of
    /// its own.
    pub fn most_numeric_terms(numeric: &[String], log1p: bool, day_bits: bool) -> usize {
        numeric
            .iter()
            .map(|name| match name.as_str() {
                ACTIVE_DAY_BITS_COLUMN if day_bits => 2 * ACTIVE_DAY_BITS as usize,
                ACTIVE_DAY_BITS_COLUMN => 0,
                _ => 1 + usize::from(log1p),
            })
            .sum()
    }

    /// Fits every input term on `rows`: each numeric column's own term and,
    /// with `log1p`, a log1p term for each count or amount (a column
    /// non-negative on these rows whose largest value exceeds 1); with
    /// `day_bits`, the day terms of `active_day_bits` (each bit, and each
    /// bit times the activity rate).
    pub fn fit(frame: &Frame, rows: &[usize], log1p: bool, day_bits: bool) -> Preprocessor {
        let mut terms = Vec::new();
        let mut dropped = Vec::new();
        // Two passes over the rows (the frame is row-major), each column's
        // sums taken in row order: no copy of a column's values, and no
        // strided walk down a column per feature. The columns are split in
        // two halves, one per thread, each read row by row: every column's
        // sums are still taken in row order, so the same bits.
        let p = frame.numeric_names.len();
        let first = by_column_halves(p, |columns| {
            let mut out = vec![ColumnSums::default(); columns.len()];
            for &i in rows {
                let row = frame.numeric.row(i);
                for (sums, &v) in out.iter_mut().zip(row.slice(ndarray::s![columns.clone()])) {
                    if !v.is_nan() {
                        sums.count += 1;
                        sums.sum += v;
                        sums.log_sum += Transform::Log1p.apply(v);
                        sums.min = sums.min.min(v);
                        sums.max = sums.max.max(v);
                    }
                }
            }
            out
        });
        let count: Vec<usize> = first.iter().map(|c| c.count).collect();
        let (min, max): (Vec<f64>, Vec<f64>) = first.iter().map(|c| (c.min, c.max)).unzip();
        let mean: Vec<f64> = first.iter().map(|c| c.sum / c.count as f64).collect();
        let log_mean: Vec<f64> = first.iter().map(|c| c.log_sum / c.count as f64).collect();
        // Imputed rows sit at the mean: they add rows, not deviation.
        let (ss, log_ss): (Vec<f64>, Vec<f64>) = by_column_halves(p, |columns| {
            let mut out = vec![(0.0f64, 0.0f64); columns.len()];
            for &i in rows {
                let row = frame.numeric.row(i);
                for ((sums, &v), j) in out
                    .iter_mut()
                    .zip(row.slice(ndarray::s![columns.clone()]))
                    .zip(columns.clone())
                {
                    if !v.is_nan() {
                        sums.0 += (v - mean[j]).powi(2);
                        sums.1 += (Transform::Log1p.apply(v) - log_mean[j]).powi(2);
                    }
                }
            }
            out
        })
        .into_iter()
        .unzip();
        let numeric_term = |name: &str, transform: Transform, mean: f64, ss: f64| {
            let std = (ss / rows.len() as f64).sqrt();
            (std > 0.0 && std.is_finite()).then(|| Term {
                term: transform.term_name(name),
                feature: Some(name.to_string()),
                category: None,
                center: mean,
                scale: std,
                coefficient: 0.0,
                transform,
                by: None,
            })
        };
        for (j, name) in frame.numeric_names.iter().enumerate() {
            if name == ACTIVE_DAY_BITS_COLUMN {
                continue;
            }
            if count[j] == 0 {
                dropped.push(name.clone());
                continue;
            }
            let Some(term) = numeric_term(name, Transform::Identity, mean[j], ss[j]) else {
                dropped.push(name.clone());
                continue;
            };
            terms.push(term);
            if log1p && min[j] >= 0.0 && max[j] > 1.0 {
                terms.extend(numeric_term(name, Transform::Log1p, log_mean[j], log_ss[j]));
            }
        }
        if day_bits && let Some(bits) = frame.numeric_index(ACTIVE_DAY_BITS_COLUMN) {
            let rate = frame.numeric_index(DAY_RATE);
            // The two columns copied out once: the 42 terms' passes then read
            // them in order instead of a row of the frame per value.
            let column = |j: usize| rows.iter().map(|&r| frame.numeric[[r, j]]).collect::<Vec<f64>>();
            let (bit_values, rate_values) = (column(bits), rate.map(column));
            for i in 0..ACTIVE_DAY_BITS as u8 {
                let transform = Transform::Bit(i);
                let value = |k: usize, by: Option<usize>| {
                    let x = bit_values[k];
                    let y = match (by, &rate_values) {
                        (Some(_), Some(rates)) => rates[k],
                        _ => 1.0,
                    };
                    (!x.is_nan() && !y.is_nan()).then(|| transform.apply(x) * y)
                };
                for by in std::iter::once(None).chain(rate.map(Some)) {
                    let (n, sum) = (0..rows.len())
                        .filter_map(|k| value(k, by))
                        .fold((0usize, 0.0f64), |(n, s), v| (n + 1, s + v));
                    if n == 0 {
                        continue;
                    }
                    let mean = sum / n as f64;
                    let ss: f64 = (0..rows.len())
                        .filter_map(|k| value(k, by))
                        .map(|v| (v - mean).powi(2))
                        .sum();
                    if let Some(mut term) = numeric_term(ACTIVE_DAY_BITS_COLUMN, transform, mean, ss) {
                        if let Some(c) = by {
                            let by = &frame.numeric_names[c];
                            term.term = format!("{}*{by}", term.term);
                            term.by = Some(by.clone());
                        }
                        terms.push(term);
                    }
                }
            }
        }
        for (k, feature) in CATEGORICAL.iter().enumerate() {
            // The codes met, then their names in name order.
            let mut met = vec![false; frame.levels[k].len() + 1];
            for &i in rows {
                met[frame.categorical[k][i] as usize] = true;
            }
            let seen: BTreeSet<&str> = frame.levels[k]
                .iter()
                .zip(&met[1..])
                .filter(|(_, met)| **met)
                .map(|(name, _)| name.as_str())
                .collect();
            for category in seen {
                terms.push(Term {
                    term: format!("{feature}={category}"),
                    feature: Some(feature.to_string()),
                    category: Some(category.to_string()),
                    center: 0.0,
                    scale: 1.0,
                    coefficient: 0.0,
                    transform: Transform::Identity,
                    by: None,
                });
            }
        }
        // The order the registry reads terms back in (numeric, then one-hot,
        // each by name): a model scores with the same sums in the same order
        // before and after it is stored.
        terms.sort_by(|a, b| (a.is_categorical(), &a.term).cmp(&(b.is_categorical(), &b.term)));
        Preprocessor { terms, dropped }
    }
}

/// One column's count, sum, sum of log1p, min and max over the non-NULL
/// values of the training rows.
#[derive(Clone)]
struct ColumnSums {
    count: usize,
    sum: f64,
    log_sum: f64,
    min: f64,
    max: f64,
}

impl Default for ColumnSums {
    fn default() -> Self {
        ColumnSums {
            count: 0,
            sum: 0.0,
            log_sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// `f` of the first and of the second half of the columns `0..p`, on two
/// threads, one value per column in column order.
fn by_column_halves<T: Send>(p: usize, f: impl Fn(std::ops::Range<usize>) -> Vec<T> + Sync) -> Vec<T> {
    let half = p / 2;
    let (mut left, right) = std::thread::scope(|scope| {
        let right = scope.spawn(|| f(half..p));
        (
            f(0..half),
            right.join().expect("the column sums' thread does not panic"),
        )
    });
    left.extend(right);
    left
}

/// Where one design column reads its value.
enum Source<'a> {
    /// `term.z_by` of numeric column `j` and its `by` column (None: 1).
    Numeric {
        j: usize,
        by: Option<usize>,
        term: &'a Term,
    },
    /// 1 when categorical column `k` holds `code` (None: a category no row
    /// of the frame has, always 0).
    OneHot { k: usize, code: Option<u16> },
    /// A feature the frame lacks: always the imputed value, 0.
    Absent,
}

/// The design matrix of `rows` for input `terms` (intercept terms skipped).
/// A numeric term whose column the frame lacks reads as missing (imputed).
///
/// Filled a row at a time (the matrix and `frame.numeric` are row-major), on
/// two threads for large inputs: a column-at-a-time fill strides through
/// memory and ran for over 30 minutes at 4.1 million rows.
pub fn design(terms: &[Term], frame: &Frame, rows: &[usize]) -> Array2<f64> {
    let sources: Vec<Source> = terms
        .iter()
        .filter(|t| !t.is_intercept())
        .map(|term| {
            let feature = term.feature.as_deref().expect("input terms name a feature");
            match &term.category {
                Some(category) => match Frame::categorical_index(feature) {
                    Some(k) => Source::OneHot {
                        k,
                        code: frame.category_code(k, category),
                    },
                    None => Source::Absent,
                },
                None => match (frame.numeric_index(feature), &term.by) {
                    (Some(j), None) => Source::Numeric { j, by: None, term },
                    (Some(j), Some(by)) => match frame.numeric_index(by) {
                        Some(by) => Source::Numeric {
                            j,
                            by: Some(by),
                            term,
                        },
                        None => Source::Absent,
                    },
                    (None, _) => Source::Absent,
                },
            }
        })
        .collect();
    let mut x = Array2::zeros((rows.len(), sources.len()));
    if sources.is_empty() || rows.is_empty() {
        return x;
    }
    let fill = |mut block: ndarray::ArrayViewMut2<f64>, rows: &[usize]| {
        for (mut out, &i) in block.rows_mut().into_iter().zip(rows) {
            let numeric = frame.numeric.row(i);
            for (cell, source) in out.iter_mut().zip(&sources) {
                *cell = match *source {
                    Source::Numeric { j, by, term } => term.z_by(numeric[j], by.map_or(1.0, |c| numeric[c])),
                    Source::OneHot { k, code } => f64::from(u8::from(Some(frame.categorical[k][i]) == code)),
                    Source::Absent => 0.0,
                };
            }
        }
    };
    const PARALLEL_FROM: usize = 100_000;
    if rows.len() < PARALLEL_FROM {
        fill(x.view_mut(), rows);
    } else {
        let half = rows.len() / 2;
        let (top, bottom) = x.view_mut().split_at(ndarray::Axis(0), half);
        let (first, second) = rows.split_at(half);
        std::thread::scope(|scope| {
            scope.spawn(|| fill(top, first));
            fill(bottom, second);
        });
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four rows of a count (0, 1, 3, NULL), a rate in [0, 1] and a
    /// column with a negative value.
    fn frame() -> Frame {
        let nan = f64::NAN;
        Frame {
            user: vec![0, 1, 2, 3],
            users: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            as_of: vec![0; 4],
            numeric_names: vec!["logins_7d".into(), "rate".into(), "delta".into()],
            numeric: ndarray::array![
                [0.0, 0.5, -2.0],
                [1.0, 0.25, 4.0],
                [3.0, 1.0, 1.0],
                [nan, 0.0, 0.5]
            ],
            categorical: vec![vec![0; 4]; CATEGORICAL.len()],
            levels: vec![Vec::new(); CATEGORICAL.len()],
            label: vec![0.0, 1.0, 0.0, 1.0],
        }
    }

    #[test]
    fn a_count_gets_a_log1p_term_fitted_on_the_training_rows() {
        let f = frame();
        let rows = [0, 1, 2, 3];
        let pre = Preprocessor::fit(&f, &rows, true, true);
        let names: Vec<&str> = pre.terms.iter().map(|t| t.term.as_str()).collect();
        // Only the count: the rate never exceeds 1, delta goes below 0.
        assert_eq!(names, ["delta", "log1p(logins_7d)", "logins_7d", "rate"]);
        let log = &pre.terms[1];
        assert_eq!(log.transform, Transform::Log1p);
        assert_eq!(log.feature.as_deref(), Some("logins_7d"));
        // ln 1, ln 2, ln 4 over the three present rows; the NULL row is
        // imputed at the mean and counts in the std's denominator.
        let (a, b, c) = (0.0f64, 2.0f64.ln(), 4.0f64.ln());
        let mean = (a + b + c) / 3.0;
        let std = (((a - mean).powi(2) + (b - mean).powi(2) + (c - mean).powi(2)) / 4.0).sqrt();
        assert!((log.center - mean).abs() < 1e-15 && (log.scale - std).abs() < 1e-15);
        // z of a value, of a NULL, of a negative value (read as 0).
        assert!((log.z(3.0) - (c - mean) / std).abs() < 1e-15);
        assert_eq!(log.z(f64::NAN), 0.0);
        assert_eq!(log.z(-5.0), log.z(0.0));
        // The design matrix reads the same z.
        let x = design(&pre.terms, &f, &rows);
        assert!((x[[2, 1]] - log.z(3.0)).abs() < 1e-15 && x[[3, 1]] == 0.0);
        // Without log1p, the columns' own terms alone.
        let plain = Preprocessor::fit(&f, &rows, false, false);
        let names: Vec<&str> = plain.terms.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(names, ["delta", "logins_7d", "rate"]);
        // The bound known before the rows: a log term for every column.
        assert_eq!(Preprocessor::most_numeric_terms(&f.numeric_names, true, true), 6);
        assert_eq!(Preprocessor::most_numeric_terms(&f.numeric_names, false, true), 3);
    }

    /// Bits 0 and 2 of the day bits, over four rows (one NULL rate).
    #[test]
    fn the_day_bits_become_a_term_per_day_and_per_day_times_the_rate() {
        let nan = f64::NAN;
        let f = Frame {
            user: vec![0, 1, 2, 3],
            users: vec!["a".into(), "b".into(), "c".into(), "d".into()],
            as_of: vec![0; 4],
            numeric_names: vec![ACTIVE_DAY_BITS_COLUMN.into(), DAY_RATE.into()],
            // 0b101, 0b001, 0b100, 0b000
            numeric: ndarray::array![[5.0, 0.5], [1.0, 0.25], [4.0, nan], [0.0, 1.0]],
            categorical: vec![vec![0; 4]; CATEGORICAL.len()],
            levels: vec![Vec::new(); CATEGORICAL.len()],
            label: vec![0.0, 1.0, 0.0, 1.0],
        };
        let rows = [0, 1, 2, 3];
        let pre = Preprocessor::fit(&f, &rows, false, true);
        let names: Vec<&str> = pre.terms.iter().map(|t| t.term.as_str()).collect();
        // No term of the bits' own value; bit 1 and bits 3 to 20 are 0 on
        // every row (std 0), so only bits 0 and 2 stay.
        assert_eq!(
            names,
            [
                "bit00(active_day_bits)",
                "bit00(active_day_bits)*lifetime_activity_rate",
                "bit02(active_day_bits)",
                "bit02(active_day_bits)*lifetime_activity_rate",
                "lifetime_activity_rate",
            ]
        );
        // bit 0: 1, 1, 0, 0 -> mean 0.5, std 0.5
        let bit0 = &pre.terms[0];
        assert_eq!(
            (bit0.transform, bit0.center, bit0.scale),
            (Transform::Bit(0), 0.5, 0.5)
        );
        // bit 0 times the rate: 0.5, 0.25, (NULL rate: imputed), 0 -> mean
        // 0.25 over the three present, squares over all four rows
        let by = &pre.terms[1];
        assert_eq!(by.by.as_deref(), Some(DAY_RATE));
        let std = ((0.25f64.powi(2) + 0.0 + 0.25f64.powi(2)) / 4.0).sqrt();
        assert!((by.center - 0.25).abs() < 1e-15 && (by.scale - std).abs() < 1e-15);
        // The design matrix: the bit, the bit times the rate, a NULL rate at 0.
        let x = design(&pre.terms, &f, &rows);
        assert_eq!(x[[0, 0]], 1.0);
        assert_eq!(x[[2, 0]], -1.0);
        assert!((x[[0, 1]] - (0.5 - 0.25) / std).abs() < 1e-15);
        assert_eq!(x[[2, 1]], 0.0);
        assert!((x[[2, 2]] - (1.0 - 0.5) / 0.5).abs() < 1e-15);
        assert_eq!(by.z_by(5.0, 0.5), x[[0, 1]]);
        // Off, the bits are not read at all.
        let off = Preprocessor::fit(&f, &rows, false, false);
        let names: Vec<&str> = off.terms.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(names, ["lifetime_activity_rate"]);
        // The bound known before the rows: 42 day terms and the rate's own
        // (its log term too, with log1p); none for the bits when off.
        let most = |log1p, day_bits| Preprocessor::most_numeric_terms(&f.numeric_names, log1p, day_bits);
        assert_eq!(
            (most(false, true), most(true, true), most(false, false)),
            (43, 44, 1)
        );
    }

    #[test]
    fn stored_transform_names_read_back() {
        for t in [
            Transform::Identity,
            Transform::Log1p,
            Transform::Bit(0),
            Transform::Bit(20),
        ] {
            assert_eq!(Transform::from_stored(t.stored().as_deref()), Some(t));
        }
        for unknown in ["spline", "bit:", "bit:x", "bit:64"] {
            assert_eq!(Transform::from_stored(Some(unknown)), None);
        }
    }
}
