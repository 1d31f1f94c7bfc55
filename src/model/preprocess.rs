//! The fitted input transform, as data: one term per model input.
//!
//! numeric term:     z = (x − center) / scale, with NULL x read as center
//!                   (training mean), center/scale the training mean and
//!                   population std after imputation; std 0 → column dropped.
//! categorical term: z = 1 when the value equals `category`, else 0 (an
//!                   unknown or NULL category is all zeros).
//! The intercept is a term of its own, z = 1.

use std::collections::BTreeSet;

use ndarray::Array2;
use serde::{Deserialize, Serialize};

use crate::model::frame::{CATEGORICAL, Frame};

pub const INTERCEPT: &str = "(intercept)";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Term {
    /// "(intercept)", the numeric feature's name, or "feature=category".
    pub term: String,
    pub feature: Option<String>,
    pub category: Option<String>,
    pub center: f64,
    pub scale: f64,
    pub coefficient: f64,
}

impl Term {
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
    pub fn fit(frame: &Frame, rows: &[usize]) -> Preprocessor {
        let mut terms = Vec::new();
        let mut dropped = Vec::new();
        // Two passes over the rows (the frame is row-major), each column's
        // sums taken in row order: no copy of a column's values, and no
        // strided walk down a column per feature.
        let p = frame.numeric_names.len();
        let (mut count, mut sum) = (vec![0usize; p], vec![0.0f64; p]);
        for &i in rows {
            for (j, &v) in frame.numeric.row(i).iter().enumerate() {
                if !v.is_nan() {
                    count[j] += 1;
                    sum[j] += v;
                }
            }
        }
        let mean: Vec<f64> = sum.iter().zip(&count).map(|(&s, &n)| s / n as f64).collect();
        // Imputed rows sit at the mean: they add rows, not deviation.
        let mut ss = vec![0.0f64; p];
        for &i in rows {
            for (j, &v) in frame.numeric.row(i).iter().enumerate() {
                if !v.is_nan() {
                    ss[j] += (v - mean[j]).powi(2);
                }
            }
        }
        for (j, name) in frame.numeric_names.iter().enumerate() {
            if count[j] == 0 {
                dropped.push(name.clone());
                continue;
            }
            let (mean, ss) = (mean[j], ss[j]);
            let std = (ss / rows.len() as f64).sqrt();
            if std == 0.0 || !std.is_finite() {
                dropped.push(name.clone());
                continue;
            }
            terms.push(Term {
                term: name.clone(),
                feature: Some(name.clone()),
                category: None,
                center: mean,
                scale: std,
                coefficient: 0.0,
            });
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
enum Source {
    /// (x − center) / scale of numeric column `j`, NULL → 0 (the center).
    Numeric { j: usize, center: f64, scale: f64 },
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
                    Some(j) => Source::Numeric {
                        j,
                        center: term.center,
                        scale: term.scale,
                    },
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
                    Source::Numeric { j, center, scale } => {
                        let v = numeric[j];
                        if v.is_nan() { 0.0 } else { (v - center) / scale }
                    }
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
