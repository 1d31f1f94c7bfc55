//! score: the production model applied to the population at one as-of date
//! (the latest by default), into `predictions`; optionally exported.

use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use duckdb::Connection;
use duckdb::arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use duckdb::arrow::record_batch::RecordBatch;

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::model::data::{Rows, load, numeric_features};
use crate::model::registry;
use crate::stages::Outcome;

/// Options of the score stage.
#[derive(Debug, Clone, Default)]
pub struct ScoreArgs {
    pub as_of_date: Option<NaiveDate>,
    pub export: Option<std::path::PathBuf>,
}

fn pick_date(conn: &Connection, wanted: Option<NaiveDate>) -> Result<NaiveDate> {
    let (first, last): (Option<NaiveDate>, Option<NaiveDate>) = conn
        .query_row(
            "select min(as_of_date), max(as_of_date) from user_features_daily",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context(|| "score: reading the as-of dates".into())?;
    let (Some(first), Some(last)) = (first, last) else {
        return Err(Error::MissingInput(
            "score needs rows in user_features_daily: run `churn run --stage features`".into(),
        ));
    };
    match wanted {
        None => Ok(last),
        Some(d) if d >= first && d <= last => Ok(d),
        Some(d) => Err(Error::Usage(format!(
            "--as-of-date {d} has no features; the available as-of dates run from {first} to {last}"
        ))),
    }
}

pub fn run(conn: &Connection, config: &Config, args: &ScoreArgs) -> Result<Outcome> {
    let production = registry::production(conn)?.ok_or_else(|| {
        Error::MissingInput(
            "score needs a production model and there is none: run `churn run --stage train --stage promote`"
                .into(),
        )
    })?;
    let model = registry::load(conn, &production.model_id)?;
    let date = pick_date(conn, args.as_of_date)?;
    let available = numeric_features(conn, "user_features_daily")?;
    let missing: Vec<String> = model
        .numeric_features()
        .into_iter()
        .filter(|f| !available.contains(f))
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingInput(format!(
            "model {} reads columns that user_features_daily lacks: {}; rebuild features with the windows the \
             model was trained on, or train a new model",
            model.model_id,
            missing.join(", ")
        )));
    }
    let frame = load(
        conn,
        "user_features_daily",
        &Rows::Population {
            date,
            population: config.labels.population,
        },
        &model.numeric_features(),
        false,
    )?;
    let rows: Vec<usize> = (0..frame.len()).collect();
    let risk = model.predict(&frame, &rows);
    // Rank 1 = highest risk; ties broken by user_id for a stable order.
    let mut order: Vec<usize> = rows.clone();
    order.sort_by(|&a, &b| {
        risk[b]
            .total_cmp(&risk[a])
            .then_with(|| frame.user_id[a].cmp(&frame.user_id[b]))
    });
    let mut rank = vec![0i64; rows.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as i64 + 1;
    }

    conn.execute(
        "delete from predictions where as_of_date = ? and model_id = ?",
        duckdb::params![date, model.model_id],
    )
    .context(|| "score: replacing the previous slice".into())?;
    let n = rows.len();
    let day = (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32;
    let now = Utc::now().naive_utc().and_utc().timestamp_micros();
    let batch = RecordBatch::try_from_iter(vec![
        (
            "as_of_date",
            Arc::new(Date32Array::from(vec![day; n])) as ArrayRef,
        ),
        (
            "user_id",
            Arc::new(StringArray::from_iter_values(frame.user_id.iter())),
        ),
        (
            "model_id",
            Arc::new(StringArray::from(vec![model.model_id.as_str(); n])),
        ),
        ("churn_risk", Arc::new(Float64Array::from(risk.clone()))),
        ("risk_rank", Arc::new(Int64Array::from(rank))),
        (
            "scored_at",
            Arc::new(TimestampMicrosecondArray::from(vec![now; n])),
        ),
    ])
    .map_err(|e| Error::Other(format!("score: building the predictions batch: {e}")))?;
    let mut app = conn
        .appender("predictions")
        .context(|| "score: opening the appender".into())?;
    app.append_record_batch(batch)
        .context(|| "score: appending predictions".into())?;
    app.flush().context(|| "score: flushing predictions".into())?;

    if let Some(path) = &args.export {
        export(conn, path, date, &model.model_id)?;
    }
    let mean = risk.iter().sum::<f64>() / n.max(1) as f64;
    Ok(Outcome {
        rows_out: n as i64,
        params: serde_json::json!({
            "as_of_date": date.to_string(),
            "model_id": model.model_id,
            "population": config.labels.population.as_str(),
            "export": args.export.as_ref().map(|p| p.display().to_string()),
        }),
        failure: None,
        summary: format!(
            "{n} users scored at {date} by {} (mean risk {mean:.4}){}",
            model.model_id,
            args.export
                .as_ref()
                .map_or(String::new(), |p| format!("; exported to {}", p.display()))
        ),
    })
}

fn export(conn: &Connection, path: &Path, date: NaiveDate, model_id: &str) -> Result<()> {
    let name = path.to_string_lossy();
    let format = if name.ends_with(".csv") {
        "(header true)"
    } else if name.ends_with(".parquet") {
        "(format parquet)"
    } else {
        return Err(Error::Usage(format!(
            "--export {name}: the file must end in .csv or .parquet"
        )));
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).context(|| format!("score: creating {}", dir.display()))?;
    }
    let quoted = format!("'{}'", name.replace('\'', "''"));
    let model = format!("'{}'", model_id.replace('\'', "''"));
    conn.execute_batch(&format!(
        "copy (select * from predictions where as_of_date = date '{date}' and model_id = {model} \
         order by risk_rank) to {quoted} {format}"
    ))
    .context(|| format!("score: exporting to {name}"))
}
