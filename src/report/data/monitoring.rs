//! Monitoring as the page shows it: realised performance, the label against
//! the hidden truth, promotions and the last drift check.

use super::*;
use crate::report::svg::{paired, plot, round1};

/// The production model's realised performance, when evaluate has run.
pub(super) fn realised(store: &Store, production: &ModelCard) -> Result<Option<Realised>> {
    if !store.table_exists("performance_runs")? {
        return Ok(None);
    }
    let read = |query: &str| -> Result<Vec<RealisedDay>> {
        store
            .conn
            .prepare(store::query(query))
            .and_then(|mut s| {
                s.query_map([&production.row.model_id], |r| {
                    Ok(RealisedDay {
                        slice_from: r.get(0)?,
                        slice_to: r.get(1)?,
                        period: r.get(2)?,
                        n: r.get(3)?,
                        observed_rate: r.get(4)?,
                        mean_risk: r.get(5)?,
                        pr_auc: r.get(6)?,
                        ece: r.get(7)?,
                        top10_lift: r.get(8)?,
                        status: r.get(9)?,
                        evaluated_at: r.get(10)?,
                    })
                })?
                .collect()
            })
            .context(|| "reading performance_runs".into())
    };
    let days = read("performance_days")?;
    let windows = read("performance_windows")?;
    if days.is_empty() && windows.is_empty() {
        return Ok(None);
    }
    let test_pr_auc = production.row.pr_auc;
    let scale = days
        .iter()
        .filter_map(|d| d.pr_auc)
        .fold(test_pr_auc, f64::max)
        .max(0.05)
        * 1.1;
    let (first, last) = match (days.first(), days.last()) {
        (Some(a), Some(b)) => (a.slice_from, b.slice_from),
        _ => (Utc::now().date_naive(), Utc::now().date_naive()),
    };
    let span = ((last - first).num_days().max(1)) as f64;
    let chart = plot(
        days.iter().filter_map(|d| {
            let v = d.pr_auc?;
            Some((
                (d.slice_from - first).num_days() as f64 / span,
                v / scale,
                format!(
                    "{}: PR-AUC {v:.3}, {} rows, observed {}, mean risk {}",
                    d.slice_from,
                    d.n,
                    sig3(d.observed_rate),
                    sig3(d.mean_risk)
                ),
            ))
        }),
        true,
    );
    let middle = first + chrono::Duration::days((last - first).num_days() / 2);
    Ok(Some(Realised {
        model_id: production.row.model_id.clone(),
        test_pr_auc,
        days,
        chart,
        scale,
        x_labels: [first.to_string(), middle.to_string(), last.to_string()],
        windows,
    }))
}

/// The label against the hidden truth, when the data is synthetic: over
/// training_set, with the production model's horizon and the generator's
/// pre-churn fade as the allowance.
pub(super) fn label_truth(store: &Store, production: &ModelCard) -> Result<Option<LabelTruth>> {
    for table in ["synthetic_truth", "training_set", "simulation"] {
        if !store.table_exists(table)? {
            return Ok(None);
        }
    }
    let params: serde_json::Value = serde_json::from_str(&production.row.params_json).unwrap_or_default();
    let Some(horizon) = params["horizon_days"].as_i64() else {
        return Ok(None);
    };
    let allowance: Option<i64> = store
        .conn
        .query_row(store::query("simulation_decay_days"), [], |r| r.get(0))
        .optional()
        .context(|| "reading the simulation's config".into())?
        .flatten();
    let Some(allowance) = allowance else {
        return Ok(None);
    };
    store
        .conn
        .query_row(
            store::query("label_truth"),
            duckdb::params![horizon, horizon + allowance],
            |r| {
                Ok(LabelTruth {
                    rows: r.get(0)?,
                    horizon_days: horizon,
                    allowance_days: allowance,
                    recall: r.get(1)?,
                    precision: r.get(2)?,
                    precision_at_horizon: r.get(3)?,
                })
            },
        )
        .map(|t| (t.rows > 0).then_some(t))
        .context(|| "comparing the labels with synthetic_truth".into())
}

pub(super) fn promotions(conn: &Connection) -> Result<Vec<Promotion>> {
    let mut stmt = conn
        .prepare(store::query("promotions"))
        .context(|| "reading model_promotions".into())?;
    stmt.query_map([], |r| {
        Ok(Promotion {
            promoted_at: r.get(0)?,
            model_id: r.get(1)?,
            previous_model_id: r.get(2)?,
            decision: r.get(3)?,
            reason: r.get(4)?,
            candidate_score: r.get(5)?,
            production_score: r.get(6)?,
        })
    })
    .and_then(|rows| rows.collect())
    .context(|| "reading model_promotions".into())
}

/// A bin edge on the axis: whole numbers whole, others to three
/// significant digits.
fn edge_label(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        crate::format::sig3(v)
    }
}

fn bin_label(lower: Option<f64>, upper: Option<f64>, category: Option<String>, bin: i32) -> String {
    if bin == 0 {
        return "NULL".into();
    }
    if let Some(c) = category {
        return c;
    }
    let num = |v: f64| {
        if v.abs() >= 100.0 || v == v.trunc() {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
        }
    };
    let lower = lower.filter(|l| l.is_finite());
    let upper = upper.filter(|u| u.is_finite());
    match (lower, upper) {
        (None, Some(u)) => format!("≤ {}", num(u)),
        (Some(l), None) => format!("> {}", num(l)),
        (Some(l), Some(u)) => format!("{}–{}", num(l), num(u)),
        (None, None) => "all".into(),
    }
}

fn bins_of(conn: &Connection, run_id: &str, feature: &str, psi: f64, status: Verdict) -> Result<BinsView> {
    let bins: Vec<BinRow> = store::drift::bins(conn, run_id, feature)?
        .into_iter()
        .map(|b| BinRow {
            bin: b.bin,
            edge: b
                .upper
                .filter(|u| u.is_finite() && b.category.is_none() && b.bin != 0)
                .map(edge_label),
            label: bin_label(b.lower, b.upper, b.category, b.bin),
            reference_share: b.reference_share,
            current_share: b.current_share,
            psi_term: b.psi_term,
        })
        .collect();
    let chart = paired(&bins);
    Ok(BinsView {
        feature: feature.to_string(),
        psi,
        status,
        bins,
        chart,
    })
}

pub(super) fn drift(store: &Store) -> Result<Option<DriftView>> {
    if !store.table_exists("drift_runs")? {
        return Ok(None);
    }
    let conn = &store.conn;
    let Some(latest) = store::drift::latest_run(conn, None)? else {
        return Ok(None);
    };
    let features = store::drift::results(conn, &latest.run_id)?
        .into_iter()
        .map(|f| DriftFeature {
            feature: f.feature,
            kind: f.kind,
            psi: f.psi,
            status: f.status,
            reference_count: f.reference_count,
            current_count: f.current_count,
            bar_pct: 0.0,
        })
        .collect();
    let mut run = DriftView {
        run: latest,
        features,
        scale_max: 0.0,
        warn_pct: 0.0,
        fail_pct: 0.0,
        top: Vec::new(),
        score: None,
    };
    run.scale_max = run.run.max_psi.max(run.run.fail_psi) * 1.05;
    let pct = |psi: f64| round1((psi.max(0.0) / run.scale_max).sqrt() * 100.0);
    run.warn_pct = pct(run.run.warn_psi);
    run.fail_pct = pct(run.run.fail_psi);
    for f in &mut run.features {
        f.bar_pct = pct(f.psi);
    }
    let top: Vec<(String, f64, Verdict)> = run
        .features
        .iter()
        .filter(|f| f.kind != "score")
        .take(TOP_DRIFTED)
        .map(|f| (f.feature.clone(), f.psi, f.status))
        .collect();
    for (feature, psi, status) in top {
        run.top
            .push(bins_of(conn, &run.run.run_id, &feature, psi, status)?);
    }
    let score = run
        .features
        .iter()
        .find(|f| f.kind == "score")
        .map(|f| (f.feature.clone(), f.psi, f.status));
    if let Some((feature, psi, status)) = score {
        run.score = Some(bins_of(conn, &run.run.run_id, &feature, psi, status)?);
    }
    Ok(Some(run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bin_labels_name_their_interval() {
        assert_eq!(bin_label(None, Some(2.0), None, 1), "≤ 2");
        assert_eq!(bin_label(Some(2.0), Some(3.5), None, 2), "2–3.500");
        assert_eq!(bin_label(Some(3.5), None, None, 3), "> 3.500");
        assert_eq!(bin_label(None, None, None, 0), "NULL");
        assert_eq!(bin_label(Some(f64::NEG_INFINITY), Some(18.0), None, 1), "≤ 18");
        assert_eq!(bin_label(Some(63.0), Some(f64::INFINITY), None, 9), "> 63");
        assert_eq!(bin_label(None, None, Some("pro".into()), 2), "pro");
        assert_eq!(edge_label(17.0), "17");
        assert_eq!(edge_label(0.01634), "0.0163");
        assert_eq!(edge_label(1234.6), "1235");
    }
}
