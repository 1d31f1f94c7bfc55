//! retrain: champion/challenger. Fits a candidate on the current
//! `training_set` with the same config as train, measures the production
//! model on the candidate's test rows, and promotes by the promotion rule.
//! Promoted or kept, the decision is a row in `model_promotions`.

use duckdb::Connection;

use crate::config::Config;
use crate::error::Result;
use crate::stages::{Ctx, Outcome, StageDef, promote, train};

pub fn run(conn: &Connection, config: &Config) -> Result<Outcome> {
    let t = train::fit_candidate(conn, config, "retrain")?;
    train::register(conn, config, &t)?;
    tracing::info!(
        model_id = %t.row.model_id,
        "retrain: candidate {} PR-AUC {:.4} on {} .. {}",
        t.row.model_id,
        t.metrics.pr_auc,
        t.row.test_from,
        t.row.test_to
    );
    let decided = promote::decide(conn, config, &t.row)?;
    if crate::console::detail() {
        println!("retrain: {}", decided.summary);
    }
    Ok(decided)
}

/// The retrain stage (docs/design.md §1): train a candidate on the current
/// data and promote it only if it beats production on the same test rows.
#[derive(Debug, Default)]
pub struct Retrain;

impl StageDef for Retrain {
    fn name(&self) -> &'static str {
        "retrain"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["training_set"]
    }

    fn writes(&self) -> &'static [&'static str] {
        &[
            "models",
            "model_terms",
            "model_data",
            "model_reference_bins",
            "model_promotions",
        ]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        run(conn, ctx.config)
    }
}
