//! promote: the newest candidate replaces production only when its PR-AUC
//! beats production's, re-measured on the candidate's own test rows, by at
//! least `promote.min_improvement`. Every decision is recorded.

use duckdb::Connection;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::model::data::{Rows, load, numeric_features};
use crate::model::metrics::average_precision;
use crate::model::registry::{self, Decision, ModelRow};
use crate::stages::Outcome;

/// PR-AUC of two models on the candidate's test rows of `training_set`.
pub fn compare_on_test_rows(
    conn: &Connection,
    candidate: &ModelRow,
    production: &ModelRow,
) -> Result<(f64, f64)> {
    let cand = registry::load(conn, &candidate.model_id)?;
    let prod = registry::load(conn, &production.model_id)?;
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
    let frame = load(conn, "training_set", &rows, &needed, true)?;
    if frame.is_empty() {
        return Err(Error::Other(format!(
            "training_set has no rows between {} and {} (the test dates of {}): rebuild the training set \
             and train again",
            candidate.test_from, candidate.test_to, candidate.model_id
        )));
    }
    let rows: Vec<usize> = (0..frame.len()).collect();
    let c = average_precision(&frame.label, &cand.predict(&frame, &rows))?;
    let p = average_precision(&frame.label, &prod.predict(&frame, &rows))?;
    Ok((c, p))
}

pub fn run(conn: &Connection, config: &Config) -> Result<Outcome> {
    let Some(candidate) = registry::latest_candidate(conn)? else {
        let production = registry::production(conn)?.map_or("none".to_string(), |m| m.model_id);
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

/// Decides on `candidate` against the production model by the promotion rule
/// and records the decision.
pub fn decide(conn: &Connection, config: &Config, candidate: &ModelRow) -> Result<Outcome> {
    let (decision, reason, cand_score, prod_score) = match registry::production(conn)? {
        None => (
            Decision::Promoted,
            "first model: no production model yet".to_string(),
            candidate.pr_auc,
            None,
        ),
        Some(production) => {
            let (c, p) = compare_on_test_rows(conn, candidate, &production)?;
            let needed = config.promote.min_improvement;
            if c - p >= needed {
                (
                    Decision::Promoted,
                    format!(
                        "PR-AUC {c:.4} vs production {} {p:.4} on {} .. {}: gain {:.4} >= {needed}",
                        production.model_id,
                        candidate.test_from,
                        candidate.test_to,
                        c - p
                    ),
                    c,
                    Some(p),
                )
            } else {
                (
                    Decision::Kept,
                    format!(
                        "PR-AUC {c:.4} vs production {} {p:.4} on {} .. {}: gain {:.4} < {needed}",
                        production.model_id,
                        candidate.test_from,
                        candidate.test_to,
                        c - p
                    ),
                    c,
                    Some(p),
                )
            }
        }
    };
    registry::decide(
        conn,
        &candidate.model_id,
        decision,
        &reason,
        Some(cand_score),
        prod_score,
    )?;
    let verb = match decision {
        Decision::Promoted => "promoted to production",
        _ => "kept out of production",
    };
    Ok(Outcome {
        rows_out: 1,
        params: serde_json::json!({
            "model_id": candidate.model_id,
            "decision": decision.as_str(),
            "candidate_score": cand_score,
            "production_score": prod_score,
            "min_improvement": config.promote.min_improvement,
        }),
        failure: None,
        summary: format!("{} {verb}: {reason}", candidate.model_id),
    })
}
