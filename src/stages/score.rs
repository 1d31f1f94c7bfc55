//! score: the production model applied to the population at one as-of date
//! (the latest by default) or, to backfill, at every date of a range, into
//! `predictions` (one slice per date and model); optionally exported.

use std::path::Path;
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use duckdb::Connection;
use duckdb::arrow::array::{
    ArrayRef, Date32Array, Float64Array, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use duckdb::arrow::record_batch::RecordBatch;

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::model::frame::Rows;
use crate::stages::{Ctx, Outcome, StageDef, Template};
use crate::store::frames::numeric_features;
use crate::store::models;
use crate::model::reasons::{self, Ranked, Reason};
use crate::store::scored::{Scored, score_rows};

/// Options of the score stage.
#[derive(Debug, Clone, Default)]
pub struct ScoreArgs {
    /// Score this date (default: the latest).
    pub as_of_date: Option<NaiveDate>,
    /// Backfill: score every as-of date from `from_date` to `to_date`.
    pub from_date: Option<NaiveDate>,
    pub to_date: Option<NaiveDate>,
    pub export: Option<std::path::PathBuf>,
    /// Also score the production model's test window when none of its
    /// days is scored yet (`churn run` of the whole pipeline), so that
    /// `evaluate` has matured predictions to measure at once.
    pub seed_test_window: bool,
}

/// The as-of dates to score: the given one, a backfill range, or the
/// latest; each must have features.
fn pick_dates(conn: &Connection, args: &ScoreArgs) -> Result<(NaiveDate, NaiveDate)> {
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
    let check = |flag: &str, d: NaiveDate| {
        if d >= first && d <= last {
            Ok(d)
        } else {
            Err(Error::Usage(format!(
                "{flag} {d} has no features; the available as-of dates run from {first} to {last}"
            )))
        }
    };
    match (args.as_of_date, args.from_date, args.to_date) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => Err(Error::Usage(
            "--as-of-date scores one date and --from-date/--to-date a range: give one or the other".into(),
        )),
        (Some(d), None, None) => check("--as-of-date", d).map(|d| (d, d)),
        (None, None, None) => Ok((last, last)),
        (None, from, to) => {
            let from = check("--from-date", from.unwrap_or(first))?;
            let to = check("--to-date", to.unwrap_or(last))?;
            if from > to {
                return Err(Error::Usage(format!(
                    "--from-date {from} comes after --to-date {to}: nothing to score"
                )));
            }
            Ok((from, to))
        }
    }
}

pub fn run(conn: &Connection, config: &Config, args: &ScoreArgs, load_id: &str) -> Result<Outcome> {
    let _memory = crate::store::leave_memory_to_rust(conn, "score");
    let started = std::time::Instant::now();
    let production = models::production(conn)?.ok_or_else(|| {
        Error::MissingInput(
            "score needs a production model and there is none: run `churn run --stage train --stage promote`"
                .into(),
        )
    })?;
    let removed = models::removed_training_data(conn, &production.model_id)?;
    if !removed.is_empty() {
        let rows: i64 = removed.iter().map(|(_, n)| n).sum();
        return Err(Error::MissingInput(format!(
            "score: the production model {} was trained on data that is no longer here: {} load(s) of {rows} \
             events ({}) left `events`, e.g. by a replace-mode ingest. Scoring other data with it would \
             serve a model of another population: train one on this data with `churn run --from validate` \
             (its promotion then replaces {})",
            production.model_id,
            removed.len(),
            removed.iter().map(|(l, _)| l.as_str()).take(3).collect::<Vec<_>>().join(", "),
            production.model_id
        )));
    }
    let model = models::load(conn, &production.model_id)?;
    let (from, to) = pick_dates(conn, args)?;
    tracing::debug!(stage = "score", seconds = started.elapsed().as_secs_f64(), "checked and read the production model");
    let mut ranges = vec![(from, to)];
    if args.seed_test_window
        && args.as_of_date.is_none()
        && args.from_date.is_none()
        && args.to_date.is_none()
    {
        let scored: i64 = conn
            .query_row(
                "select count(*) from predictions where model_id = ? and as_of_date between ? and ?",
                duckdb::params![production.model_id, production.test_from, production.test_to],
                |r| r.get(0),
            )
            .context(|| "score: looking for the test window's predictions".into())?;
        if scored == 0 && production.test_to < from {
            ranges.insert(0, (production.test_from, production.test_to));
        }
    }
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
    let mut n = 0;
    let mut slices = 0;
    let mut risk_sum = 0.0;
    for &(from, to) in &ranges {
        let (rows, days, sum) = score_range(conn, config, &model, (from, to), load_id)?;
        n += rows;
        slices += days;
        risk_sum += sum;
    }
    if let Some(path) = &args.export {
        export(conn, path, (from, to), &model.model_id)?;
    }
    let mean = risk_sum / n.max(1) as f64;
    let dates = match ranges.as_slice() {
        [(a, b)] if a == b => format!("at {b}"),
        [(a, b)] => format!("on {slices} dates from {a} to {b}"),
        _ => format!(
            "on {slices} dates: the latest, {to}, and the test window {} .. {} (for evaluate)",
            ranges[0].0, ranges[0].1
        ),
    };
    Ok(Outcome {
        rows_out: n as i64,
        params: serde_json::json!({
            "as_of_date": to.to_string(),
            "from_date": from.to_string(),
            "ranges": ranges.iter().map(|(a, b)| [a.to_string(), b.to_string()]).collect::<Vec<_>>(),
            "slices": slices,
            "model_id": model.model_id,
            "population": config.labels.population.as_str(),
            "export": args.export.as_ref().map(|p| p.display().to_string()),
        }),
        failure: None,
        summary: format!(
            "{n} users scored {dates} by {} (mean risk {mean:.4}){}",
            model.model_id,
            args.export
                .as_ref()
                .map_or(String::new(), |p| format!("; exported to {}", p.display()))
        ),
    })
}

/// Rows appended to `predictions` per batch.
const APPEND_ROWS: usize = 1 << 20;

/// Scores the population of every as-of date from `from` to `to` with
/// `model`, replacing the model's slices of those dates. The rows are read
/// and scored a chunk at a time, keeping a user code, a day and a risk per
/// row (a backfill of 30 dates of a million users holds about 0.5 GB), and
/// appended in batches. Returns the rows, the dates scored and the sum of
/// the risks.
fn score_range(
    conn: &Connection,
    config: &Config,
    model: &crate::model::Model,
    (from, to): (NaiveDate, NaiveDate),
    load_id: &str,
) -> Result<(usize, usize, f64)> {
    let started = std::time::Instant::now();
    let rows = Rows::Population {
        from,
        to,
        population: config.labels.population,
    };
    // Each user's own reasons on the range's last date (the slice a team
    // acts on and the API serves): (row, rank, term), in scan order.
    let last = (to - NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date")).num_days() as i32;
    let mut kept: Vec<(u32, u8, Ranked)> = Vec::new();
    let mut offset = 0usize;
    let scored = score_rows(
        conn,
        "user_features_daily",
        &rows,
        &model.numeric_features(),
        &[model],
        false,
        |chunk, designs| {
            let latest: Vec<usize> = (0..chunk.len()).filter(|&i| chunk.as_of[i] == last).collect();
            // A slice of one date is every row of the chunk: its design as it is.
            let selected;
            let x = if latest.len() == chunk.len() {
                designs[0].view()
            } else {
                selected = designs[0].select(ndarray::Axis(0), &latest);
                selected.view()
            };
            reasons::ranked_from(model, chunk, &latest, x, reasons::TOP, |k, top| {
                for (r, term) in top.iter().enumerate() {
                    kept.push(((offset + latest[k]) as u32, r as u8 + 1, *term));
                }
            });
            offset += chunk.len();
            Ok(())
        },
    )?;
    let risk = &scored.scores[0];
    let n = scored.len();
    tracing::debug!(stage = "score", seconds = started.elapsed().as_secs_f64(), rows = n, %from, %to, "read and scored the rows");
    // Rank 1 = highest risk within each date; ties broken by user_id.
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_unstable_by(|&a, &b| {
        let (a, b) = (a as usize, b as usize);
        scored.as_of[a]
            .cmp(&scored.as_of[b])
            .then_with(|| risk[b].total_cmp(&risk[a]))
            .then_with(|| scored.user_name(a).cmp(scored.user_name(b)))
    });
    let mut slices = 0;
    let started = std::time::Instant::now();
    for table in ["predictions", "prediction_reasons"] {
        conn.execute(
            &format!("delete from {table} where as_of_date between ? and ? and model_id = ?"),
            duckdb::params![from, to, model.model_id],
        )
        .context(|| "score: replacing the previous slices".into())?;
    }
    let now = Utc::now().naive_utc().and_utc().timestamp_micros();
    let mut app = conn
        .appender("predictions")
        .context(|| "score: opening the appender".into())?;
    let mut r = 0i64;
    let mut previous: Option<i32> = None;
    for batch in order.chunks(APPEND_ROWS) {
        let mut rank = Vec::with_capacity(batch.len());
        for &i in batch {
            let day = scored.as_of[i as usize];
            if previous != Some(day) {
                previous = Some(day);
                r = 0;
                slices += 1;
            }
            r += 1;
            rank.push(r);
        }
        let m = batch.len();
        let record = RecordBatch::try_from_iter(vec![
            (
                "as_of_date",
                Arc::new(Date32Array::from_iter_values(
                    batch.iter().map(|&i| scored.as_of[i as usize]),
                )) as ArrayRef,
            ),
            (
                "user_id",
                Arc::new(StringArray::from_iter_values(
                    batch.iter().map(|&i| scored.user_name(i as usize)),
                )),
            ),
            (
                "model_id",
                Arc::new(StringArray::from(vec![model.model_id.as_str(); m])),
            ),
            (
                "churn_risk",
                Arc::new(Float64Array::from_iter_values(
                    batch.iter().map(|&i| risk[i as usize]),
                )),
            ),
            ("risk_rank", Arc::new(Int64Array::from(rank))),
            (
                "scored_at",
                Arc::new(TimestampMicrosecondArray::from(vec![now; m])),
            ),
            ("load_id", Arc::new(StringArray::from(vec![load_id; m]))),
        ])
        .context(|| "score: building the predictions batch".into())?;
        app.append_record_batch(record)
            .context(|| "score: appending predictions".into())?;
    }
    app.flush().context(|| "score: flushing predictions".into())?;
    drop(app);
    tracing::debug!(stage = "score", seconds = started.elapsed().as_secs_f64(), rows = n, "replaced the predictions");
    let started = std::time::Instant::now();
    append_reasons(conn, model, &scored, &kept, load_id)?;
    tracing::debug!(stage = "score", seconds = started.elapsed().as_secs_f64(), rows = kept.len(), "appended the reasons");
    Ok((n, slices, risk.iter().sum()))
}

/// Appends the kept reasons to `prediction_reasons`, in batches.
fn append_reasons(
    conn: &Connection,
    model: &crate::model::Model,
    scored: &Scored,
    kept: &[(u32, u8, Ranked)],
    load_id: &str,
) -> Result<()> {
    let mut app = conn
        .appender("prediction_reasons")
        .context(|| "score: opening the reasons appender".into())?;
    for batch in kept.chunks(APPEND_ROWS) {
        let m = batch.len();
        let reasons: Vec<Reason> = batch.iter().map(|(_, _, r)| reasons::reason(model, r)).collect();
        let record = RecordBatch::try_from_iter(vec![
            (
                "as_of_date",
                Arc::new(Date32Array::from_iter_values(
                    batch.iter().map(|&(i, _, _)| scored.as_of[i as usize]),
                )) as ArrayRef,
            ),
            (
                "user_id",
                Arc::new(StringArray::from_iter_values(
                    batch.iter().map(|&(i, _, _)| scored.user_name(i as usize)),
                )),
            ),
            (
                "model_id",
                Arc::new(StringArray::from(vec![model.model_id.as_str(); m])),
            ),
            (
                "reason_rank",
                Arc::new(Int32Array::from_iter_values(batch.iter().map(|&(_, r, _)| i32::from(r)))),
            ),
            (
                "input",
                Arc::new(StringArray::from_iter_values(reasons.iter().map(|r| r.input.as_str()))),
            ),
            (
                "value",
                Arc::new(Float64Array::from_iter(reasons.iter().map(|r| r.value))),
            ),
            (
                "category",
                Arc::new(StringArray::from_iter(reasons.iter().map(|r| r.category.as_deref()))),
            ),
            (
                "usual",
                Arc::new(Float64Array::from_iter(reasons.iter().map(|r| r.usual))),
            ),
            (
                "contribution",
                Arc::new(Float64Array::from_iter_values(reasons.iter().map(|r| r.contribution))),
            ),
            (
                "reason",
                Arc::new(StringArray::from_iter_values(reasons.iter().map(Reason::words))),
            ),
            ("load_id", Arc::new(StringArray::from(vec![load_id; m]))),
        ])
        .context(|| "score: building the reasons batch".into())?;
        app.append_record_batch(record)
            .context(|| "score: appending reasons".into())?;
    }
    app.flush().context(|| "score: flushing reasons".into())
}

fn export(conn: &Connection, path: &Path, (from, to): (NaiveDate, NaiveDate), model_id: &str) -> Result<()> {
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
    let quoted = crate::store::quote::string(name.as_ref());
    let model = crate::store::quote::string(model_id);
    conn.execute_batch(&format!(
        "copy (select * from predictions where as_of_date between date '{from}' and date '{to}' \
         and model_id = {model} order by as_of_date, risk_rank) to {quoted} {format}"
    ))
    .context(|| format!("score: exporting to {name}"))
}

/// The score stage (docs/design.md §1), with its options.
#[derive(Debug, Default)]
pub struct Score {
    pub args: ScoreArgs,
}

impl StageDef for Score {
    fn name(&self) -> &'static str {
        "score"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["user_features_daily", "models"]
    }

    fn writes(&self) -> &'static [&'static str] {
        &["predictions", "prediction_reasons"]
    }

    /// The model in plain SQL from its rows: what Spark runs, equal to the
    /// Rust scorer this stage runs on DuckDB (see `churn sql score`).
    fn templates(&self, _config: &Config) -> Vec<Template> {
        vec![Template::table("predictions", "scoring/score.sql")]
    }

    fn spark_inputs(&self) -> &'static [&'static str] {
        &["user_features_daily", "production_model", "model_terms"]
    }

    fn is_load(&self) -> bool {
        true
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        run(conn, ctx.config, &self.args, &ctx.load_id(self.name()))
    }
}
