//! The churn model, pure: the frame of inputs, a fitted transform and
//! logistic regression, metrics, baselines, bootstrap intervals and the
//! reference profile. Reading and writing tables is the store's work
//! (`src/store/`).

pub mod baseline;
pub mod bootstrap;
pub mod frame;
pub mod logistic;
pub mod metrics;
pub mod preprocess;
pub mod profile;
pub mod reasons;

use frame::Frame;
use preprocess::{Term, design};

/// A model fully described by its terms (the intercept is one of them).
#[derive(Debug, Clone)]
pub struct Model {
    pub model_id: String,
    pub terms: Vec<Term>,
}

impl Model {
    pub fn intercept(&self) -> f64 {
        self.terms
            .iter()
            .filter(|t| t.is_intercept())
            .map(|t| t.coefficient)
            .sum()
    }

    /// The numeric features the model reads, each once (a column with a
    /// log1p term beside its own is one input), in term order.
    pub fn numeric_features(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for t in self
            .terms
            .iter()
            .filter(|t| !t.is_intercept() && !t.is_categorical())
        {
            for f in t.feature.iter().chain(&t.by) {
                if !out.contains(f) {
                    out.push(f.clone());
                }
            }
        }
        out
    }

    /// The categorical inputs the model one-hot encodes, in CATEGORICAL order.
    pub fn categorical_features(&self) -> Vec<String> {
        frame::CATEGORICAL
            .iter()
            .filter(|c| {
                self.terms
                    .iter()
                    .any(|t| t.is_categorical() && t.feature.as_deref() == Some(**c))
            })
            .map(|c| c.to_string())
            .collect()
    }

    /// Churn risk of `rows` of `frame`: σ(b + Σ βⱼ·zⱼ).
    pub fn predict(&self, frame: &Frame, rows: &[usize]) -> Vec<f64> {
        self.predict_design(&design(&self.terms, frame, rows))
    }

    /// Churn risk of the rows of a design matrix built from these terms.
    pub fn predict_design(&self, x: &ndarray::Array2<f64>) -> Vec<f64> {
        let beta: ndarray::Array1<f64> = self
            .terms
            .iter()
            .filter(|t| !t.is_intercept())
            .map(|t| t.coefficient)
            .collect();
        let b = self.intercept();
        x.dot(&beta).mapv(|z| logistic::sigmoid(z + b)).to_vec()
    }
}
