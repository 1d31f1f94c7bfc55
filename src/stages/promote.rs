//! promote: the newest candidate replaces production only when it passes
//! the gate (its PR-AUC beats the best single input's by
//! `promote.min_lift_over_baseline`, its ECE is at most `promote.max_ece`)
//! and its PR-AUC beats production's, re-measured on the candidate's own
//! test rows, by at least `promote.min_improvement`. Every decision is
//! recorded with its figures.

use duckdb::Connection;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::frame::Rows;
use crate::model::metrics::average_precision;
use crate::stages::{Ctx, Outcome, StageDef};
use crate::store::frames::numeric_features;
use crate::store::models::{self, Decision, ModelRow};
use crate::store::scored::score_rows;

/// PR-AUC of two models on the candidate's test rows of `training_set`.
pub fn compare_on_test_rows(
    conn: &Connection,
    candidate: &ModelRow,
    production: &ModelRow,
) -> Result<(f64, f64)> {
    let cand = models::load(conn, &candidate.model_id)?;
    let prod = models::load(conn, &production.model_id)?;
    let available = numeric_features(conn, "training_set")?;
    let needed: Vec<String> = cand
        .numeric_features()
        .into_iter()
        .chain(prod.numeric_features())
        .filter(|f| available.contains(f))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = Rows::Dates(vec![(candidate.test_from, candidate.test_to)]);
    // Streamed: both models' scores and the labels are all that is kept.
    let scored = score_rows(
        conn,
        "training_set",
        &rows,
        &needed,
        &[&cand, &prod],
        true,
        |_, _| Ok(()),
    )?;
    if scored.is_empty() {
        return Err(Error::Other(format!(
            "training_set has no rows between {} and {} (the test dates of {}): rebuild the training set \
             and train again",
            candidate.test_from, candidate.test_to, candidate.model_id
        )));
    }
    let c = average_precision(&scored.label, &scored.scores[0])?;
    let p = average_precision(&scored.label, &scored.scores[1])?;
    Ok((c, p))
}

pub fn run(conn: &Connection, config: &Config) -> Result<Outcome> {
    let _memory = crate::store::leave_memory_to_rust(conn, "promote");
    let Some(candidate) = models::latest_candidate(conn)? else {
        let production = models::production(conn)?.map_or("none".to_string(), |m| m.model_id);
        return Ok(Outcome {
            rows_out: 0,
            params: serde_json::json!({"decision": "none", "production": production}),
            failure: None,
            summary: format!(
                "no candidate is waiting (production: {production}); `churn run --stage train` makes one"
            ),
        });
    };
    decide(conn, config, &candidate)
}

/// The gate every candidate must pass, the first model included: its
/// PR-AUC beats the best single input's by `promote.min_lift_over_baseline`
/// and its ECE is at most `promote.max_ece`. Ok with the figures, or Err
/// with the reason.
pub fn gate(config: &Config, candidate: &ModelRow) -> std::result::Result<String, String> {
    let q = &candidate.quality;
    let (Some(baseline), Some(feature), Some(ece)) = (q.baseline_pr_auc, &q.baseline_feature, q.ece) else {
        return Err(format!(
            "{} was trained before baselines and calibration were recorded: train a new candidate",
            candidate.model_id
        ));
    };
    let need = config.promote.min_lift_over_baseline;
    let lift = candidate.pr_auc - baseline;
    let interval = match (q.lift_low, q.lift_high) {
        (Some(lo), Some(hi)) => format!(" (95% interval {lo:.4} to {hi:.4})"),
        _ => String::new(),
    };
    let ranking = format!(
        "PR-AUC {:.4} vs the best single input {feature} {baseline:.4}: lift {lift:.4}{interval}",
        candidate.pr_auc
    );
    let max_ece = config.promote.max_ece;
    let calibration = format!(
        "ECE {ece:.4}, mean risk {:.4} vs observed {:.4}",
        q.mean_risk.unwrap_or(f64::NAN),
        candidate.pos_rate_test
    );
    if lift < need {
        return Err(format!(
            "{ranking} < {need} (promote.min_lift_over_baseline): the model does not rank better than one \
             input alone; {calibration}"
        ));
    }
    if ece > max_ece {
        return Err(format!(
            "{ranking}; {calibration}: ECE above {max_ece} (promote.max_ece), the risks are not \
             probabilities to act on"
        ));
    }
    Ok(format!("{ranking} >= {need}; {calibration} <= {max_ece}"))
}

/// Decides on `candidate` by the gate and against the production model,
/// and records the decision. A candidate that fails the gate is rejected;
/// when there is no production model either, the stage fails (exit 1) with
/// the figures and the next step, its decision row committed.
pub fn decide(conn: &Connection, config: &Config, candidate: &ModelRow) -> Result<Outcome> {
    let production = models::production(conn)?;
    let (decision, reason, cand_score, prod_score) = match (gate(config, candidate), &production) {
        (Err(why), _) => (Decision::Rejected, why, candidate.pr_auc, None),
        (Ok(passed), None) => (
            Decision::Promoted,
            format!("first model: {passed}"),
            candidate.pr_auc,
            None,
        ),
        (Ok(passed), Some(production)) => {
            let (c, p) = compare_on_test_rows(conn, candidate, production)?;
            let needed = config.promote.min_improvement;
            let versus = format!(
                "PR-AUC {c:.4} vs production {} {p:.4} on {} .. {}: gain {:.4}",
                production.model_id,
                candidate.test_from,
                candidate.test_to,
                c - p
            );
            if c - p >= needed {
                (
                    Decision::Promoted,
                    format!("{versus} >= {needed}; {passed}"),
                    c,
                    Some(p),
                )
            } else {
                (Decision::Kept, format!("{versus} < {needed}"), c, Some(p))
            }
        }
    };
    models::decide(
        conn,
        &candidate.model_id,
        decision,
        &reason,
        Some(cand_score),
        prod_score,
    )?;
    let verb = match decision {
        Decision::Promoted => "promoted to production",
        Decision::Rejected => "rejected",
        _ => "kept out of production",
    };
    let summary = format!("{} {verb}: {reason}", candidate.model_id);
    let failure = (decision == Decision::Rejected && production.is_none()).then(|| {
        Error::ModelRejected(format!(
            "{summary}. No model is served. Next: look at `churn models show {}` and the report, then \
             improve the data or the features (more days or users, other features.windows) and run \
             `churn run --from training-set --to promote`; or lower promote.min_lift_over_baseline / raise \
             promote.max_ece if you accept such a model",
            candidate.model_id
        ))
    });
    Ok(Outcome {
        rows_out: 1,
        params: serde_json::json!({
            "model_id": candidate.model_id,
            "decision": decision.as_str(),
            "candidate_score": cand_score,
            "production_score": prod_score,
            "baseline_pr_auc": candidate.quality.baseline_pr_auc,
            "baseline_feature": candidate.quality.baseline_feature,
            "ece": candidate.quality.ece,
            "min_improvement": config.promote.min_improvement,
            "min_lift_over_baseline": config.promote.min_lift_over_baseline,
            "max_ece": config.promote.max_ece,
        }),
        failure,
        summary,
    })
}

/// The promote stage (docs/design.md §3): the gate, then champion against
/// challenger on the same test rows.
#[derive(Debug, Default)]
pub struct Promote;

impl StageDef for Promote {
    fn name(&self) -> &'static str {
        "promote"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["models"]
    }

    fn writes(&self) -> &'static [&'static str] {
        &["models", "model_promotions"]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        run(conn, ctx.config)
    }
}
