//! evaluate: realised performance, the honest half of monitoring. Every
//! stored predictions slice whose labels have matured (its look-ahead lies
//! in the data, so `labels_daily` holds it: sql/evaluate/matured.sql) is
//! measured against the labels as the data now says: PR-AUC, ROC-AUC, ECE,
//! mean risk against the observed rate, top-decile lift. One row per (model,
//! day) and one pooled row per model (its last `monitor.window_days` matured
//! days outside its training window) go to `performance_runs`. The stage
//! exits 2 when the production model's pooled PR-AUC falls more than
//! `monitor.max_pr_auc_drop` below its own test PR-AUC.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Utc};
use duckdb::Connection;

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::model::metrics::{average_precision, expected_calibration_error, roc_auc};
use crate::sql::{self, SqlContext};
use crate::stages::{Ctx, Outcome, StageDef, Template};
use crate::store::models::{self, ModelRow};

/// One measured slice (a day, or a model's pooled window).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Performance {
    pub model_id: String,
    pub is_production: bool,
    /// "day" or "window".
    pub kind: &'static str,
    pub slice_from: NaiveDate,
    pub slice_to: NaiveDate,
    pub slices: usize,
    /// train, gap, test or after: the slice's (last) day against the model's split.
    pub period: &'static str,
    pub n: usize,
    pub positives: usize,
    pub observed_rate: f64,
    pub mean_risk: f64,
    pub pr_auc: Option<f64>,
    pub roc_auc: Option<f64>,
    pub ece: f64,
    pub top10_lift: Option<f64>,
    pub test_pr_auc: f64,
    pub pr_auc_drop: Option<f64>,
    /// OK, FAIL, or None when PR-AUC is undefined.
    pub status: Option<&'static str>,
}

/// The matured predictions of one model: (date, risk, label) rows.
type Matured = BTreeMap<String, Vec<(NaiveDate, f64, f64)>>;

fn read_matured(conn: &Connection, ctx: &SqlContext) -> Result<Matured> {
    let sql = sql::render("evaluate/matured.sql", ctx)?;
    let mut stmt = conn
        .prepare(&sql)
        .context(|| "evaluate: running sql/evaluate/matured.sql".into())?;
    let mut rows = stmt
        .query([])
        .context(|| "evaluate: running sql/evaluate/matured.sql".into())?;
    let mut out: Matured = BTreeMap::new();
    let read = |r: &duckdb::Row<'_>| -> duckdb::Result<(String, NaiveDate, f64, i32)> {
        Ok((r.get(1)?, r.get(0)?, r.get(3)?, r.get(4)?))
    };
    while let Some(r) = rows
        .next()
        .context(|| "evaluate: reading matured predictions".into())?
    {
        let (model, date, risk, label) =
            read(r).context(|| "evaluate: reading matured predictions".into())?;
        out.entry(model).or_default().push((date, risk, f64::from(label)));
    }
    for rows in out.values_mut() {
        rows.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    }
    Ok(out)
}

fn period(model: &ModelRow, day: NaiveDate) -> &'static str {
    if day <= model.train_to {
        "train"
    } else if day < model.test_from {
        "gap"
    } else if day <= model.test_to {
        "test"
    } else {
        "after"
    }
}

/// The metrics of `rows` (date, risk, label) for `model`.
fn measure(
    model: &ModelRow,
    is_production: bool,
    kind: &'static str,
    rows: &[(NaiveDate, f64, f64)],
    max_drop: f64,
) -> Performance {
    let y: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let p: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let n = y.len();
    let positives = y.iter().filter(|&&v| v == 1.0).count();
    let observed_rate = positives as f64 / n as f64;
    let pr_auc = average_precision(&y, &p).ok();
    let (ece, _) = expected_calibration_error(&y, &p, 10);
    let top10_lift = (positives > 0).then(|| {
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let k = n.div_ceil(10);
        let hits = order[..k].iter().filter(|&&i| y[i] == 1.0).count();
        hits as f64 / k as f64 / observed_rate
    });
    let drop = pr_auc.map(|v| model.pr_auc - v);
    let first = rows.iter().map(|r| r.0).min().expect("a slice has rows");
    let last = rows.iter().map(|r| r.0).max().expect("a slice has rows");
    let mut days: Vec<NaiveDate> = rows.iter().map(|r| r.0).collect();
    days.dedup();
    Performance {
        model_id: model.model_id.clone(),
        is_production,
        kind,
        slice_from: first,
        slice_to: last,
        slices: days.len(),
        period: period(model, last),
        n,
        positives,
        observed_rate,
        mean_risk: p.iter().sum::<f64>() / n as f64,
        pr_auc,
        roc_auc: roc_auc(&y, &p).ok(),
        ece,
        top10_lift,
        test_pr_auc: model.pr_auc,
        pr_auc_drop: drop,
        status: drop.map(|d| if d > max_drop { "FAIL" } else { "OK" }),
    }
}

/// Every day slice of every model, and each model's pooled window.
pub fn measure_all(conn: &Connection, config: &Config, ctx: &SqlContext) -> Result<Vec<Performance>> {
    let matured = read_matured(conn, ctx)?;
    let production = models::production(conn)?.map(|m| m.model_id);
    let max_drop = config.monitor.max_pr_auc_drop;
    let mut out = Vec::new();
    for (model_id, rows) in &matured {
        let Some(model) = models::get(conn, model_id)? else {
            continue;
        };
        let is_production = production.as_deref() == Some(model_id.as_str());
        let mut start = 0;
        while start < rows.len() {
            let day = rows[start].0;
            let end = start + rows[start..].iter().take_while(|r| r.0 == day).count();
            out.push(measure(&model, is_production, "day", &rows[start..end], max_drop));
            start = end;
        }
        // The window: matured days after the model's training window, the
        // last `window_days` days of them.
        let outside: Vec<(NaiveDate, f64, f64)> =
            rows.iter().copied().filter(|r| r.0 > model.train_to).collect();
        if let Some(last) = outside.last().map(|r| r.0) {
            let from = last - chrono::Duration::days(i64::from(config.monitor.window_days) - 1);
            let window: Vec<_> = outside.into_iter().filter(|r| r.0 >= from).collect();
            out.push(measure(&model, is_production, "window", &window, max_drop));
        }
    }
    Ok(out)
}

fn store(conn: &Connection, run_id: &str, results: &[Performance]) -> Result<()> {
    conn.execute_batch("delete from performance_runs where kind = 'day'")
        .context(|| "evaluate: replacing the day slices".into())?;
    let now = Utc::now().naive_utc();
    let mut app = conn
        .appender("performance_runs")
        .context(|| "evaluate: opening the performance_runs appender".into())?;
    for p in results {
        app.append_row(duckdb::params![
            run_id,
            now,
            p.model_id,
            p.is_production,
            p.kind,
            p.slice_from,
            p.slice_to,
            p.slices as i64,
            p.period,
            p.n as i64,
            p.positives as i64,
            p.observed_rate,
            p.mean_risk,
            p.pr_auc,
            p.roc_auc,
            p.ece,
            p.top10_lift,
            p.test_pr_auc,
            p.pr_auc_drop,
            p.status,
        ])
        .context(|| "evaluate: writing performance_runs".into())?;
    }
    app.flush()
        .context(|| "evaluate: writing performance_runs".into())
}

fn fmt(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.4}"))
}

fn print_table(results: &[Performance], production: &str) {
    let days: Vec<&Performance> = results
        .iter()
        .filter(|p| p.model_id == production && p.kind == "day")
        .collect();
    println!(
        "realised performance of {production}: {} matured day(s)",
        days.len()
    );
    println!(
        "{:<10} {:<23} {:<6} {:>7} {:>5} {:>8} {:>9} {:>8} {:>7} {:>7}  status",
        "kind", "days", "period", "rows", "pos", "observed", "mean risk", "PR-AUC", "ECE", "lift@10"
    );
    // The last two weeks of days, then the window that decides.
    let shown = days.len().saturating_sub(14);
    for p in days[shown..].iter().copied().chain(
        results
            .iter()
            .filter(|p| p.model_id == production && p.kind == "window"),
    ) {
        let span = if p.slice_from == p.slice_to {
            p.slice_from.to_string()
        } else {
            format!("{} .. {}", p.slice_from, p.slice_to)
        };
        println!(
            "{:<10} {:<23} {:<6} {:>7} {:>5} {:>8.4} {:>9.4} {:>8} {:>7.4} {:>7}  {}",
            p.kind,
            span,
            p.period,
            p.n,
            p.positives,
            p.observed_rate,
            p.mean_risk,
            fmt(p.pr_auc),
            p.ece,
            p.top10_lift.map_or("-".into(), |v| format!("{v:.2}")),
            p.status.unwrap_or("-")
        );
    }
}

pub fn run(conn: &Connection, config: &Config, ctx: &SqlContext, run_id: &str) -> Result<Outcome> {
    let production = models::production(conn)?.ok_or_else(|| {
        Error::MissingInput(
            "evaluate measures the production model's predictions and there is none: run \
             `churn run --stage train --stage promote --stage score` first"
                .into(),
        )
    })?;
    let results = measure_all(conn, config, ctx)?;
    store(conn, run_id, &results)?;
    let window = results
        .iter()
        .find(|p| p.model_id == production.model_id && p.kind == "window")
        .cloned();
    let days = results.iter().filter(|p| p.kind == "day").count();
    if crate::console::detail() {
        print_table(&results, &production.model_id);
    }
    let params = serde_json::json!({
        "model_id": production.model_id,
        "days": days,
        "window": window,
        "max_pr_auc_drop": config.monitor.max_pr_auc_drop,
        "window_days": config.monitor.window_days,
    });
    let Some(w) = window else {
        let look_ahead = config.labels.look_ahead_days();
        return Ok(Outcome {
            rows_out: results.len() as i64,
            params,
            failure: None,
            summary: format!(
                "no matured predictions of {} after its training window yet: a day's predictions mature \
                 {look_ahead} days later (labels.horizon_days + labels.inactive_days); to see realised \
                 performance now, backfill its test window with `churn run --stage score --from-date {} \
                 --to-date {}`, then `churn run --stage evaluate`",
                production.model_id, production.test_from, production.test_to
            ),
        });
    };
    let summary = format!(
        "{}: realised PR-AUC {} over {} matured day(s) {} .. {} ({} rows, observed rate {:.4}, mean risk {:.4}, \
         ECE {:.4}) vs test PR-AUC {:.4}: drop {} (limit {})",
        w.status.unwrap_or("undefined"),
        fmt(w.pr_auc),
        w.slices,
        w.slice_from,
        w.slice_to,
        w.n,
        w.observed_rate,
        w.mean_risk,
        w.ece,
        w.test_pr_auc,
        fmt(w.pr_auc_drop),
        config.monitor.max_pr_auc_drop
    );
    let failure = (w.status == Some("FAIL")).then(|| {
        Error::PerformanceFail(format!(
            "{} ranks worse than when it was tested: {summary}; retrain with `churn run --stage retrain`",
            production.model_id
        ))
    });
    Ok(Outcome {
        rows_out: results.len() as i64,
        params,
        failure,
        summary,
    })
}

/// The evaluate stage (docs/design.md §4): realised performance of every
/// predictions slice whose labels have matured.
#[derive(Debug, Default)]
pub struct Evaluate;

impl StageDef for Evaluate {
    fn name(&self) -> &'static str {
        "evaluate"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["predictions", "models", "labels_daily"]
    }

    fn writes(&self) -> &'static [&'static str] {
        &["performance_runs"]
    }

    fn templates(&self, _config: &Config) -> Vec<Template> {
        vec![Template::select("evaluate/matured.sql")]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        run(conn, ctx.config, &ctx.sql(), &ctx.run_id)
    }
}
