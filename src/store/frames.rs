//! Reading model inputs from DuckDB straight into a `model::Frame`, column
//! by column through Arrow (no per-cell parsing): whole, sampled, or a
//! chunk at a time.

use std::collections::HashMap;

use duckdb::Connection;
use duckdb::arrow::array::{Array, Float64Array, Int32Array, StringArray};

use crate::error::{Context, Error, Result};
use crate::model::frame::{CATEGORICAL, Frame, NOT_FEATURES, Rows, Sample};
use crate::store::quote;

const NUMERIC_TYPES: [&str; 11] = [
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
];

/// The numeric feature columns of a table, in table order.
pub fn numeric_features(conn: &Connection, table: &str) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare(&format!(
            "select column_name, column_type from (describe {table})"
        ))
        .context(|| format!("describing {table}"))?;
    let cols = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .context(|| format!("describing {table}"))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .context(|| format!("describing {table}"))?;
    Ok(cols
        .into_iter()
        .filter(|(name, ty)| {
            !NOT_FEATURES.contains(&name.as_str())
                && !CATEGORICAL.contains(&name.as_str())
                && (NUMERIC_TYPES.contains(&ty.as_str()) || ty.starts_with("DECIMAL"))
        })
        .map(|(name, _)| name)
        .collect())
}

/// The select of `load` and `for_each_chunk`: keys, categoricals, label,
/// the numeric columns, on the rows the condition keeps.
fn select_sql(table: &str, rows: &Rows, numeric: &[String], with_label: bool) -> String {
    let mut select = vec![
        "user_id::varchar".to_string(),
        "(as_of_date - date '1970-01-01')::integer".to_string(),
    ];
    select.extend(CATEGORICAL.iter().map(|c| format!("{c}::varchar")));
    select.push(if with_label {
        "churn_label::double".into()
    } else {
        "0::double".into()
    });
    select.extend(numeric.iter().map(|c| format!("{}::double", quote::ident(c))));
    format!(
        "select {} from {table} where {}",
        select.join(", "),
        rows.condition()
    )
}

/// Appends the rows of `batch` that `keep` keeps to `frame` (whose numeric
/// matrix has room from row `frame.len()` on), returning how many.
fn append_batch(
    frame: &mut Frame,
    batch: &duckdb::arrow::record_batch::RecordBatch,
    table: &str,
    user_codes: &mut HashMap<String, u32>,
    keep: &impl Fn(&str, i32) -> bool,
) -> Result<usize> {
    // The select casts every column, so another type is churn's own error.
    let bad = |what: &str| {
        Error::Internal(format!(
            "reading {table}: {what} came back with an unexpected type"
        ))
    };
    let p = frame.numeric_names.len();
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| bad("user_id"))?;
    let dates = batch
        .column(1)
        .as_any()
        .downcast_ref::<Int32Array>()
        .ok_or_else(|| bad("as_of_date"))?;
    let categories = (0..CATEGORICAL.len())
        .map(|k| {
            batch
                .column(2 + k)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| bad(CATEGORICAL[k]))
        })
        .collect::<Result<Vec<_>>>()?;
    let base = 2 + CATEGORICAL.len();
    let labels = batch
        .column(base)
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| bad("label"))?;
    let columns = (0..p)
        .map(|j| {
            batch
                .column(base + 1 + j)
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| bad(&frame.numeric_names[j]))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut kept = 0;
    for i in 0..batch.num_rows() {
        let id = ids.value(i);
        let day = dates.value(i);
        if !keep(id, day) {
            continue;
        }
        let row = frame.len();
        if row >= frame.numeric.nrows() {
            return Err(Error::Changed {
                table: table.to_string(),
            });
        }
        let code = match user_codes.get(id) {
            Some(&c) => c,
            None => {
                let c = frame.users.len() as u32;
                frame.users.push(id.to_string());
                user_codes.insert(id.to_string(), c);
                c
            }
        };
        frame.user.push(code);
        frame.as_of.push(day);
        for (k, values) in categories.iter().enumerate() {
            let code = if values.is_null(i) {
                0
            } else {
                let v = values.value(i);
                match frame.levels[k].iter().position(|c| c == v) {
                    Some(c) => c as u16 + 1,
                    None => {
                        frame.levels[k].push(v.to_string());
                        frame.levels[k].len() as u16
                    }
                }
            };
            frame.categorical[k].push(code);
        }
        frame.label.push(if labels.is_null(i) {
            f64::NAN
        } else {
            labels.value(i)
        });
        let mut out = frame.numeric.row_mut(row);
        for (cell, values) in out.iter_mut().zip(&columns) {
            *cell = if values.is_null(i) {
                f64::NAN
            } else {
                values.value(i)
            };
        }
        kept += 1;
    }
    Ok(kept)
}

/// How many of the `rows` of `table` there are.
pub fn count(conn: &Connection, table: &str, rows: &Rows) -> Result<u64> {
    let n: i64 = conn
        .query_row(
            &format!("select count(*) from {table} where {}", rows.condition()),
            duckdb::params_from_iter(&rows.params()),
            |r| r.get(0),
        )
        .context(|| format!("counting the rows of {table}"))?;
    Ok(n.max(0) as u64)
}

/// Loads `numeric` columns, the categoricals and (optionally) `churn_label`
/// of the `rows` of `table`, ordered by user_id and as_of_date.
///
/// The rows are streamed from an unordered scan, a record batch at a time
/// (never materialized inside DuckDB), and put in order here. At 100,000
/// users DuckDB's `order by` over the 8.7 million wide rows of
/// `training_set` took 707 s of an 850 s read.
/// The scan already comes nearly in (user_id, as_of_date) order (11 rows
/// out of place in the first 3 million), so an adaptive sort of the row
/// numbers here and moving the few stray rows in place is cheap; the order
/// is fixed only so that a fit sums its rows in the same order on every run.
pub fn load(
    conn: &Connection,
    table: &str,
    rows: &Rows,
    numeric: &[String],
    with_label: bool,
) -> Result<Frame> {
    load_sampled(conn, table, rows, numeric, with_label, Sample::All)
}

/// `load`, keeping only the rows `sample` keeps (the rest are read and
/// dropped as they stream by, so they never take memory).
pub fn load_sampled(
    conn: &Connection,
    table: &str,
    rows: &Rows,
    numeric: &[String],
    with_label: bool,
    sample: Sample,
) -> Result<Frame> {
    let n = count(conn, table, rows)? as usize;
    // Room for every row the sample can keep (a sampled frame is cut to
    // its rows at the end).
    let mut frame = Frame::with_capacity(numeric, n);
    let mut user_codes = HashMap::new();
    let keep = |id: &str, day: i32| sample.keeps(id, day);
    let mut read = 0;
    stream_batches(conn, table, rows, numeric, with_label, |batch| {
        read += batch.num_rows();
        append_batch(&mut frame, batch, table, &mut user_codes, &keep).map(|_| ())
    })?;
    if read != n {
        return Err(Error::Changed {
            table: table.to_string(),
        });
    }
    frame.shrink();
    if with_label && frame.label.iter().any(|v| v.is_nan()) {
        return Err(Error::Corrupt(format!(
            "{table} has rows without churn_label: rebuild it with `churn run --full --stage training-set`"
        )));
    }
    frame.sort_by_key();
    Ok(frame)
}

/// Runs the select of `load` and `for_each_chunk` as a streaming result:
/// DuckDB hands over one record batch at a time instead of materializing
/// all the rows first (at 100,000 users that copy held 3 GB beside the
/// frame). Batches are fetched with `step`, whose errors are returned; the
/// iterator `stream_arrow` gives back would panic.
fn stream_batches(
    conn: &Connection,
    table: &str,
    rows: &Rows,
    numeric: &[String],
    with_label: bool,
    mut each: impl FnMut(&duckdb::arrow::record_batch::RecordBatch) -> Result<()>,
) -> Result<()> {
    let mut stmt = conn
        .prepare(&select_sql(table, rows, numeric, with_label))
        .context(|| format!("reading {table}"))?;
    let _ = stmt
        .stream_arrow(duckdb::params_from_iter(&rows.params()))
        .context(|| format!("reading {table}"))?;
    while let Some(chunk) = stmt.step().context(|| format!("reading {table}"))? {
        each(&duckdb::arrow::record_batch::RecordBatch::from(&chunk))?;
    }
    Ok(())
}

/// Rows per chunk of `for_each_chunk`.
pub const CHUNK_ROWS: usize = 1 << 16;

/// Streams the `rows` of `table` to `f` in frames of at most `CHUNK_ROWS`
/// rows (in scan order), so that a pass over tens of millions of rows holds
/// one chunk at a time. Each chunk's user codes index its own `users`.
pub fn for_each_chunk(
    conn: &Connection,
    table: &str,
    rows: &Rows,
    numeric: &[String],
    with_label: bool,
    mut f: impl FnMut(&Frame) -> Result<()>,
) -> Result<()> {
    let all = |_: &str, _: i32| true;
    let mut frame = Frame::with_capacity(numeric, CHUNK_ROWS);
    let mut user_codes = HashMap::new();
    stream_batches(conn, table, rows, numeric, with_label, |batch| {
        if frame.len() + batch.num_rows() > CHUNK_ROWS {
            frame.shrink();
            f(&frame)?;
            frame = Frame::with_capacity(numeric, CHUNK_ROWS.max(batch.num_rows()));
            user_codes.clear();
        }
        append_batch(&mut frame, batch, table, &mut user_codes, &all).map(|_| ())
    })?;
    if !frame.is_empty() {
        frame.shrink();
        f(&frame)?;
    }
    Ok(())
}

/// The distinct as-of dates of `table`, as day numbers, in order.
pub fn as_of_days(conn: &Connection, table: &str) -> Result<Vec<i32>> {
    let mut stmt = conn
        .prepare(&format!(
            "select distinct (as_of_date - date '1970-01-01')::integer as d from {table} \
             where as_of_date is not null order by d"
        ))
        .context(|| format!("reading the as-of dates of {table}"))?;
    stmt.query_map([], |r| r.get::<_, i32>(0))
        .and_then(|rows| rows.collect())
        .context(|| format!("reading the as-of dates of {table}"))
}
