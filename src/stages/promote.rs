//! promote: the newest candidate replaces production only when it passes
//! the gate (its PR-AUC beats the best single input's by
//! `promote.min_lift_over_baseline`, its ECE is at most `promote.max_ece`)
//! and its PR-AUC beats production's, re-measured on the candidate's own
//! test rows, by at least `promote.min_improvement`. Every decision is
//! recorded with its figures.

use duckdb::Connection;

use crate::config::{Config, LiftGate};
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
        return Err(Error::MissingInput(format!(
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
/// (read at the lower end of the lift's 95% interval, or at the lift
/// itself with `promote.lift = "point"`) and its ECE is at most
/// `promote.max_ece`. Ok with the figures, or Err with the reason.
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
    // The figure the gate reads, and its name in the decision.
    let (gated, read) = match (config.promote.lift, q.lift_low) {
        (LiftGate::LowerBound, Some(low)) => (low, "the interval's lower end"),
        (LiftGate::LowerBound, None) => (lift, "the lift (no interval was recorded)"),
        (LiftGate::Point, _) => (lift, "the lift"),
    };
    let setting = format!(
        "promote.min_lift_over_baseline, read at promote.lift = \"{}\"",
        config.promote.lift.as_str()
    );
    let max_ece = config.promote.max_ece;
    let calibration = format!(
        "ECE {ece:.4}, mean risk {:.4} vs observed {:.4}",
        q.mean_risk.unwrap_or(f64::NAN),
        candidate.pos_rate_test
    );
    if gated < need {
        let could_be_none = if config.promote.lift == LiftGate::LowerBound && lift >= need {
            "its lift may be chance: on other rows it could rank no better than one input alone"
        } else {
            "the model does not rank better than one input alone"
        };
        return Err(format!(
            "{ranking}; {read} {gated:.4} < {need} ({setting}): {could_be_none}; {calibration}"
        ));
    }
    if ece > max_ece {
        return Err(format!(
            "{ranking}; {calibration}: ECE above {max_ece} (promote.max_ece), the risks are not \
             probabilities to act on"
        ));
    }
    Ok(format!("{ranking}; {read} {gated:.4} >= {need}; {calibration} <= {max_ece}"))
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
             `churn run --from training-set --to promote`; or lower promote.min_lift_over_baseline, set \
             promote.lift = \"point\" (the measured lift, not its interval's lower end) or raise \
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
            "lift_gate": config.promote.lift.as_str(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::models::Quality;
    use crate::store::status::ModelStatus;

    /// A candidate of PR-AUC 0.156 against a best input of 0.117 (lift
    /// 0.039), its lift's interval `low` to 0.058, ECE 0.008.
    fn candidate(low: f64) -> ModelRow {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
        ModelRow {
            model_id: "logreg-test".into(),
            algorithm: "logreg".into(),
            role: "churn".into(),
            status: ModelStatus::Candidate,
            created_at: day.and_hms_opt(0, 0, 0).unwrap(),
            train_from: day,
            train_to: day,
            test_from: day,
            test_to: day,
            n_train: 1000,
            n_test: 1000,
            pos_rate_train: 0.06,
            pos_rate_test: 0.06,
            pr_auc: 0.156,
            roc_auc: 0.7,
            log_loss: 0.2,
            brier: 0.05,
            metrics_json: "{}".into(),
            params_json: "{}".into(),
            quality: Quality {
                mean_risk: Some(0.06),
                ece: Some(0.008),
                baseline_feature: Some("silence_ratio".into()),
                baseline_pr_auc: Some(0.117),
                lift_low: Some(low),
                lift_high: Some(0.058),
                ..Quality::default()
            },
        }
    }

    #[test]
    fn the_gate_reads_the_lifts_lower_bound_unless_told_the_point() {
        let mut config = Config::default();
        // The interval clears 0.01: promoted, and the decision says what it read.
        let passed = gate(&config, &candidate(0.023)).unwrap();
        assert!(passed.contains("the interval's lower end 0.0230 >= 0.01"), "{passed}");
        // The lift (0.039) clears it but its interval reaches below: refused,
        // naming the setting and the way out.
        let refused = gate(&config, &candidate(-0.007)).unwrap_err();
        assert!(
            refused.contains("the interval's lower end -0.0070 < 0.01")
                && refused.contains("promote.lift = \"lower_bound\"")
                && refused.contains("may be chance"),
            "{refused}"
        );
        // Told the point estimate, the same candidate passes on its lift.
        config.promote.lift = LiftGate::Point;
        let passed = gate(&config, &candidate(-0.007)).unwrap();
        assert!(passed.contains("the lift 0.0390 >= 0.01"), "{passed}");
        // And a lift below the bar is refused either way.
        config.promote.min_lift_over_baseline = 0.05;
        let refused = gate(&config, &candidate(0.023)).unwrap_err();
        assert!(
            refused.contains("the lift 0.0390 < 0.05") && refused.contains("does not rank better"),
            "{refused}"
        );
    }
}
