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
//! categorical term: z = 1 when the value equals `category`, else 0 (an
//!                   unknown or NULL category is all zeros).
//! The intercept is a term of its own, z = 1.

use std::collections::BTreeSet;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::model::frame::{CATEGORICAL, Frame};

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
}

impl Transform {
    /// The name stored in `model_terms.transform` (NULL: identity).
    pub fn stored(self) -> Option<&'static str> {
        match self {
            Transform::Identity => None,
            Transform::Log1p => Some("log1p"),
        }
    }

    /// Reads `model_terms.transform`; an unknown name is refused by the
    /// caller (a newer file).
    pub fn from_stored(name: Option<&str>) -> Option<Transform> {
        match name {
            None | Some("identity") => Some(Transform::Identity),
            Some("log1p") => Some(Transform::Log1p),
            Some(_) => None,
        }
    }

    pub fn apply(self, x: f64) -> f64 {
        match self {
            Transform::Identity => x,
            // ln(1 + x), as SQL writes it (`sql/scoring/score.sql`): the same
            // bits in DuckDB, not ln_1p's.
            Transform::Log1p => (1.0 + x.max(0.0)).ln(),
        }
    }

    /// The term's name for column `feature`.
    fn term_name(self, feature: &str) -> String {
        match self {
            Transform::Identity => feature.to_string(),
            Transform::Log1p => format!("log1p({feature})"),
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
}

impl Term {
    /// The standardized value z of a numeric term for value `x` of its
    /// column (NaN: missing, imputed at the center, z = 0). The one
    /// definition every Rust scorer reads: the design matrix of training
    /// and batch scoring, and the API's margin (`sql/scoring/score.sql`
    /// writes the same in SQL).
    pub fn z(&self, x: f64) -> f64 {
        if x.is_nan() {
            0.0
        } else {
            (self.transform.apply(x) - self.center) / self.scale
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
    /// Fits every input term on `rows`: each numeric column's own term and,
    /// with `log1p`, a log1p term for each count or amount (a column
    /// non-negative on these rows whose largest value exceeds 1).
    pub fn fit(frame: &Frame, rows: &[usize], log1p: bool) -> Preprocessor {
        let mut terms = Vec::new();
        let mut dropped = Vec::new();
        // Two passes over the rows (the frame is row-major), each column's
        // sums taken in row order: no copy of a column's values, and no
        // strided walk down a column per feature.
        let p = frame.numeric_names.len();
        let (mut count, mut sum, mut log_sum) = (vec![0usize; p], vec![0.0f64; p], vec![0.0f64; p]);
        let (mut min, mut max) = (vec![f64::INFINITY; p], vec![f64::NEG_INFINITY; p]);
        for &i in rows {
            for (j, &v) in frame.numeric.row(i).iter().enumerate() {
                if !v.is_nan() {
                    count[j] += 1;
                    sum[j] += v;
                    log_sum[j] += Transform::Log1p.apply(v);
                    min[j] = min[j].min(v);
                    max[j] = max[j].max(v);
                }
            }
        }
        let mean: Vec<f64> = sum.iter().zip(&count).map(|(&s, &n)| s / n as f64).collect();
        let log_mean: Vec<f64> = log_sum.iter().zip(&count).map(|(&s, &n)| s / n as f64).collect();
        // Imputed rows sit at the mean: they add rows, not deviation.
        let (mut ss, mut log_ss) = (vec![0.0f64; p], vec![0.0f64; p]);
        for &i in rows {
            for (j, &v) in frame.numeric.row(i).iter().enumerate() {
                if !v.is_nan() {
                    ss[j] += (v - mean[j]).powi(2);
                    log_ss[j] += (Transform::Log1p.apply(v) - log_mean[j]).powi(2);
                }
            }
        }
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
            })
        };
        for (j, name) in frame.numeric_names.iter().enumerate() {
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
        for (k, feature) in CATEGORICAL.iter().enumerate() {
            let seen: BTreeSet<&str> = rows.iter().filter_map(|&i| frame.category(k, i)).collect();
            for category in seen {
                terms.push(Term {
                    term: format!("{feature}={category}"),
                    feature: Some(feature.to_string()),
                    category: Some(category.to_string()),
                    center: 0.0,
                    scale: 1.0,
                    coefficient: 0.0,
                    transform: Transform::Identity,
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

/// Where one design column reads its value.
enum Source<'a> {
    /// `term.z` of numeric column `j`.
    Numeric { j: usize, term: &'a Term },
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
                None => match frame.numeric_index(feature) {
                    Some(j) => Source::Numeric { j, term },
                    None => Source::Absent,
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
                    Source::Numeric { j, term } => term.z(numeric[j]),
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
        let pre = Preprocessor::fit(&f, &rows, true);
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
        let plain = Preprocessor::fit(&f, &rows, false);
        let names: Vec<&str> = plain.terms.iter().map(|t| t.term.as_str()).collect();
        assert_eq!(names, ["delta", "logins_7d", "rate"]);
    }

    #[test]
    fn stored_transform_names_read_back() {
        for t in [Transform::Identity, Transform::Log1p] {
            assert_eq!(Transform::from_stored(t.stored()), Some(t));
        }
        assert_eq!(Transform::from_stored(Some("spline")), None);
    }
}
