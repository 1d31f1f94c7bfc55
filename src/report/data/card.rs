//! The model card: a model's row and stored metrics as the page shows them.

use super::*;
use crate::report::svg::{bars, plot, round1};

/// What the card warns about: base rates that moved between train and test,
/// and a model that does not clearly beat one input alone.
fn warnings(row: &ModelRow) -> Vec<String> {
    let mut out = Vec::new();
    let (train, test) = (row.pos_rate_train, row.pos_rate_test);
    if train > 0.0 && test > 0.0 && (train / test).max(test / train) > 1.5 {
        out.push(format!(
            "The base rate moved from {:.1}% in training to {:.1}% in the test window (more than 1.5×): \
             the risks may not be probabilities of the present.",
            train * 100.0,
            test * 100.0
        ));
    }
    let q = &row.quality;
    match (row.lift_over_baseline(), &q.baseline_feature) {
        (None, _) | (_, None) => out.push(
            "No single-input baseline was recorded for this model (trained before they were): retrain to \
             check it beats one input alone."
                .into(),
        ),
        (Some(lift), Some(feature)) if lift <= 0.0 => out.push(format!(
            "The model does not beat the best single input, {feature}, used alone (PR-AUC lift {lift:.3})."
        )),
        (Some(lift), Some(feature)) if q.lift_low.is_some_and(|lo| lo <= 0.0) => out.push(format!(
            "The model's lead over the best single input, {feature}, is not certain: lift {lift:.3}, 95% \
             interval {:.3} to {:.3}.",
            q.lift_low.unwrap_or(f64::NAN),
            q.lift_high.unwrap_or(f64::NAN)
        )),
        _ => {}
    }
    out
}

pub(super) fn card(row: ModelRow, model: &Model) -> ModelCard {
    let metrics: Option<Metrics> = serde_json::from_str(&row.metrics_json).ok();
    let extras: Extras = serde_json::from_str(&row.metrics_json).unwrap_or_default();
    // The reliability bins (equal counts) when recorded, else the fixed ones.
    let reliability: Vec<(f64, f64, usize, f64, f64)> = metrics
        .iter()
        .flat_map(|m| {
            if m.reliability.is_empty() {
                &m.calibration
            } else {
                &m.reliability
            }
        })
        .filter_map(|b| Some((b.lower, b.upper, b.count, b.mean_predicted?, b.observed_rate?)))
        .collect();
    let calibration_scale = reliability
        .iter()
        .map(|b| b.3.max(b.4))
        .fold(0.0, f64::max)
        .max(0.01)
        * 1.1;
    let mut coefs: Vec<_> = model.terms.iter().filter(|t| !t.is_intercept()).collect();
    coefs.sort_by(|a, b| b.coefficient.abs().total_cmp(&a.coefficient.abs()));
    coefs.truncate(TOP_COEFFICIENTS);
    let largest = coefs.first().map(|t| t.coefficient.abs()).unwrap_or(0.0);
    let coefficients = coefs
        .iter()
        .map(|t| Coefficient {
            term: t.term.clone(),
            coefficient: t.coefficient,
            positive: t.coefficient > 0.0,
            bar_pct: if largest > 0.0 {
                round1(t.coefficient.abs() / largest * 100.0)
            } else {
                0.0
            },
        })
        .collect();
    let (pr, roc, calibration, lift) =
        match &metrics {
            Some(m) => {
                let threshold =
                    |t: Option<f64>| t.map_or("no threshold".to_string(), |t| format!("threshold {t:.4}"));
                (
                plot(
                    m.pr_curve.iter().map(|c| {
                        (
                            c.x,
                            c.y,
                            format!(
                                "recall {:.3}, precision {:.3}, {}",
                                c.x,
                                c.y,
                                threshold(c.threshold)
                            ),
                        )
                    }),
                    false,
                ),
                plot(
                    m.roc_curve.iter().map(|c| {
                        (
                            c.x,
                            c.y,
                            format!("FPR {:.3}, TPR {:.3}, {}", c.x, c.y, threshold(c.threshold)),
                        )
                    }),
                    false,
                ),
                plot(
                    reliability.iter().map(|&(lower, upper, count, predicted, observed)| {
                        (
                            predicted / calibration_scale,
                            observed / calibration_scale,
                            format!(
                                "risks {}–{}: {count} rows, mean predicted {}, observed {}",
                                sig3(lower),
                                sig3(upper),
                                sig3(predicted),
                                sig3(observed)
                            ),
                        )
                    }),
                    true,
                ),
                bars(
                    &m.deciles
                        .iter()
                        .map(|d| {
                            (
                                d.decile.to_string(),
                                d.lift,
                                format!(
                                    "decile {}: {} of {} churned ({:.1}%), lift {:.2}, scores {:.3}–{:.3}",
                                    d.decile,
                                    d.positives,
                                    d.count,
                                    d.rate * 100.0,
                                    d.lift,
                                    d.min_score,
                                    d.max_score
                                ),
                            )
                        })
                        .collect::<Vec<_>>(),
                    1.0,
                ),
            )
            }
            None => Default::default(),
        };
    let params: serde_json::Value = serde_json::from_str(&row.params_json).unwrap_or_default();
    // The oracles told less, and the share of the gap to each.
    let (unseen, events) = match &extras.oracle {
        Some(ceiling) => {
            let (u, e) = ceiling.told_less();
            (u.cloned(), e.cloned())
        }
        None => (None, None),
    };
    let share = |v: Option<&crate::store::truth::OracleVariant>| {
        extras
            .oracle
            .as_ref()?
            .share(row.pr_auc, row.quality.baseline_pr_auc, v?.pr_auc)
    };
    ModelCard {
        horizon_days: params["horizon_days"].as_i64(),
        inactive_days: params["inactive_days"].as_i64(),
        warnings: warnings(&row),
        lift: row.lift_over_baseline(),
        segments: extras.segments,
        already_left: extras.already_left,
        unseen_gap_closed: share(unseen.as_ref()),
        events_gap_closed: share(events.as_ref()),
        unseen_churn: unseen,
        from_events: events,
        oracle_sample: extras.oracle.as_ref().and_then(|c| c.sample().cloned()),
        ceiling_unknown: match extras.oracle {
            Some(crate::store::truth::Ceiling::Unknown { reason }) => Some(reason),
            _ => None,
        },
        row,
        metrics,
        baselines: extras.baselines,
        intervals: extras.intervals,
        calibration_scale,
        coefficients,
        pr,
        roc,
        calibration,
        deciles: lift,
    }
}
