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

use crate::model::data::{CATEGORICAL, Frame};

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
        for (j, name) in frame.numeric_names.iter().enumerate() {
            let values: Vec<f64> = rows
                .iter()
                .map(|&i| frame.numeric[[i, j]])
                .filter(|v| !v.is_nan())
                .collect();
            if values.is_empty() {
                dropped.push(name.clone());
                continue;
            }
            let mean = values.iter().sum::<f64>() / values.len() as f64;
            // Imputed rows sit at the mean: they add rows, not deviation.
            let ss: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
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
            let seen: BTreeSet<&str> = rows
                .iter()
                .filter_map(|&i| frame.categorical[k][i].as_deref())
                .collect();
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

/// The design matrix of `rows` for input `terms` (intercept terms skipped).
/// A numeric term whose column the frame lacks reads as missing (imputed).
pub fn design(terms: &[Term], frame: &Frame, rows: &[usize]) -> Array2<f64> {
    let inputs: Vec<&Term> = terms.iter().filter(|t| !t.is_intercept()).collect();
    let mut x = Array2::zeros((rows.len(), inputs.len()));
    for (c, term) in inputs.iter().enumerate() {
        let feature = term.feature.as_deref().expect("input terms name a feature");
        match &term.category {
            Some(category) => {
                if let Some(k) = Frame::categorical_index(feature) {
                    for (r, &i) in rows.iter().enumerate() {
                        if frame.categorical[k][i].as_deref() == Some(category.as_str()) {
                            x[[r, c]] = 1.0;
                        }
                    }
                }
            }
            None => {
                if let Some(j) = frame.numeric_index(feature) {
                    for (r, &i) in rows.iter().enumerate() {
                        let v = frame.numeric[[i, j]];
                        x[[r, c]] = if v.is_nan() {
                            0.0
                        } else {
                            (v - term.center) / term.scale
                        };
                    }
                }
            }
        }
    }
    x
}
