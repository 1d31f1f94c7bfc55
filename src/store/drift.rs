//! The drift tables as records (docs/design.md §4): a `drift_runs` row has
//! one shape, `DriftRun`, which the drift stage writes and its `--json`
//! prints, and which `status`, the report and the API read back.

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::{Connection, OptionalExt, params};
use serde::Serialize;

use crate::error::{Context, Result};
use crate::store::query;
use crate::store::status::Verdict;

/// One row of `drift_runs`: a check of the production model's inputs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftRun {
    pub run_id: String,
    pub model_id: String,
    pub checked_at: NaiveDateTime,
    /// The reference: the model's training dates and rows.
    pub reference_from: NaiveDate,
    pub reference_to: NaiveDate,
    pub reference_rows: i64,
    /// The current sample: the population scored on this date.
    pub current_as_of: NaiveDate,
    pub current_rows: i64,
    pub bins: u32,
    pub warn_psi: f64,
    pub fail_psi: f64,
    pub max_psi: f64,
    pub max_psi_feature: String,
    pub n_warn: i32,
    pub n_fail: i32,
    /// The worst input's verdict.
    pub status: Verdict,
}

/// One row of `drift_results`: one input of a check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeatureDrift {
    pub feature: String,
    /// numeric, categorical or score.
    pub kind: String,
    pub psi: f64,
    pub status: Verdict,
    pub reference_count: i64,
    pub current_count: i64,
    pub reference_nulls: i64,
    pub current_nulls: i64,
}

/// One row of `drift_bins` (the columns the report draws).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftBin {
    pub bin: i32,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    pub category: Option<String>,
    pub reference_share: f64,
    pub current_share: f64,
    pub psi_term: f64,
}

/// Appends `run` to `drift_runs`.
pub fn insert_run(conn: &Connection, run: &DriftRun) -> Result<()> {
    conn.execute(
        "insert into drift_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            run.run_id,
            run.model_id,
            run.checked_at,
            run.reference_from,
            run.reference_to,
            run.reference_rows,
            run.current_as_of,
            run.current_rows,
            run.bins,
            run.warn_psi,
            run.fail_psi,
            run.max_psi,
            run.max_psi_feature,
            run.n_warn,
            run.n_fail,
            run.status,
        ],
    )
    .context(|| "drift: recording the run".into())?;
    Ok(())
}

/// The newest check of `model_id`, or of any model with None.
pub fn latest_run(conn: &Connection, model_id: Option<&str>) -> Result<Option<DriftRun>> {
    conn.query_row(query("drift_run_latest"), [model_id], |r| {
        Ok(DriftRun {
            run_id: r.get(0)?,
            model_id: r.get(1)?,
            checked_at: r.get(2)?,
            reference_from: r.get(3)?,
            reference_to: r.get(4)?,
            reference_rows: r.get(5)?,
            current_as_of: r.get(6)?,
            current_rows: r.get(7)?,
            bins: r.get(8)?,
            warn_psi: r.get(9)?,
            fail_psi: r.get(10)?,
            max_psi: r.get(11)?,
            max_psi_feature: r.get(12)?,
            n_warn: r.get(13)?,
            n_fail: r.get(14)?,
            status: r.get(15)?,
        })
    })
    .optional()
    .context(|| "reading drift_runs".into())
}

/// The per-input results of check `run_id`, largest PSI first.
pub fn results(conn: &Connection, run_id: &str) -> Result<Vec<FeatureDrift>> {
    let mut stmt = conn
        .prepare(query("drift_results"))
        .context(|| "reading drift_results".into())?;
    stmt.query_map([run_id], |r| {
        Ok(FeatureDrift {
            feature: r.get(0)?,
            kind: r.get(1)?,
            psi: r.get(2)?,
            status: r.get(3)?,
            reference_count: r.get(4)?,
            current_count: r.get(5)?,
            reference_nulls: r.get(6)?,
            current_nulls: r.get(7)?,
        })
    })
    .and_then(|rows| rows.collect())
    .context(|| "reading drift_results".into())
}

/// The bins of `feature` in check `run_id`, in order.
pub fn bins(conn: &Connection, run_id: &str, feature: &str) -> Result<Vec<DriftBin>> {
    let mut stmt = conn
        .prepare(query("drift_bins"))
        .context(|| "reading drift_bins".into())?;
    stmt.query_map([run_id, feature], |r| {
        Ok(DriftBin {
            bin: r.get(0)?,
            lower: r.get(1)?,
            upper: r.get(2)?,
            category: r.get(3)?,
            reference_share: r.get(4)?,
            current_share: r.get(5)?,
            psi_term: r.get(6)?,
        })
    })
    .and_then(|rows| rows.collect())
    .context(|| "reading drift_bins".into())
}
