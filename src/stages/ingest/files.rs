//! Users and events files (CSV, Parquet, or folders of Parquet) into
//! `users` and `events` with the canonical types, replacing or added to the
//! stored ones.

use std::path::Path;

use duckdb::{Connection, OptionalExt};

use crate::error::{Context, Error, Result};
use crate::stages::Outcome;
use crate::store::quote::string as sql_string;

/// A column of an input file: name, DuckDB type, required.
pub(super) struct Column {
    name: &'static str,
    sql_type: &'static str,
    required: bool,
}

pub(super) const fn col(name: &'static str, sql_type: &'static str, required: bool) -> Column {
    Column {
        name,
        sql_type,
        required,
    }
}

/// replace: the files become the users and events; append: they are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestMode {
    Replace,
    Append,
}

const USER_COLUMNS: &[Column] = &[
    col("user_id", "varchar", true),
    col("signup_date", "date", true),
    col("plan", "varchar", true),
    col("is_paid", "boolean", false),
    col("country", "varchar", false),
    col("marketing_source", "varchar", false),
];

const EVENT_COLUMNS: &[Column] = &[
    col("event_id", "bigint", true),
    col("user_id", "varchar", true),
    col("event_time", "timestamp", true),
    col("event_type", "varchar", true),
    col("course_id", "varchar", false),
    col("watch_minutes", "double", false),
    col("quiz_score", "double", false),
    col("amount", "double", false),
];

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Format {
    Csv,
    Parquet,
}

/// One input file staged as a temp table of raw values with a row number.
pub(super) struct Staged<'a> {
    pub(super) path: &'a Path,
    pub(super) format: Format,
    pub(super) table: &'static str,
    pub(super) columns: Vec<String>,
}

impl Staged<'_> {
    /// "line 7" for CSV (the header is line 1), "row 6" for Parquet.
    pub(super) fn place(&self, row: i64) -> String {
        match self.format {
            Format::Csv => format!("line {}", row + 1),
            Format::Parquet => format!("row {row}"),
        }
    }

    pub(super) fn has(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }
}

pub(super) fn stage_file<'a>(
    conn: &Connection,
    path: &'a Path,
    table: &'static str,
    what: &str,
) -> Result<Staged<'a>> {
    // A folder is a Parquet dataset, as `churn export` and Spark write them:
    // its .parquet files at any depth, Hive partitions (event_month=...) read
    // as columns. A table of an exported lake (`LAKE/users`) is the folder
    // the lake's manifest names for it (`store::lake`).
    let folder = crate::store::lake::resolve(conn, &path.to_string_lossy())?;
    let dataset = Path::new(&folder).is_dir();
    if !path.is_file() && !dataset {
        return Err(Error::BadInput(format!(
            "ingest: {what} file {} does not exist; pass an existing .csv or .parquet file, or a folder of \
             Parquet files",
            path.display()
        )));
    }
    let name = path.to_string_lossy().to_lowercase();
    let format = if dataset || name.ends_with(".parquet") {
        Format::Parquet
    } else if name.ends_with(".csv") {
        Format::Csv
    } else {
        return Err(Error::BadInput(format!(
            "ingest: {what} file {} is neither .csv nor .parquet; convert it or rename it with the right extension",
            path.display()
        )));
    };
    let quoted = sql_string(&path.to_string_lossy());
    let source = match format {
        Format::Csv => {
            // No dialect sniffing: a sniffer "succeeds" on a broken file by
            // reading it as one column. A strict read of the header's columns
            // as text reports the first bad line instead.
            let (names, delimiter) = csv_header(path)?;
            if delimiter != ',' {
                tracing::info!(
                    "ingest: {} separates its columns with {delimiter:?} (read from its header line)",
                    path.display()
                );
            }
            let columns: Vec<String> = names
                .iter()
                .map(|c| format!("{}: 'VARCHAR'", sql_string(c)))
                .collect();
            format!(
                "read_csv({quoted}, header = true, auto_detect = false, delim = {}, quote = '\"', \
                 escape = '\"', strict_mode = true, columns = {{{}}})",
                sql_string(&delimiter.to_string()),
                columns.join(", ")
            )
        }
        Format::Parquet if dataset => crate::store::read_parquet(&folder),
        Format::Parquet => format!("read_parquet({quoted})"),
    };
    conn.execute_batch(&format!(
        "create or replace temp table {table} as \
         select *, row_number() over () as __row from {source}"
    ))
    .map_err(|e| {
        // DuckDB's message ends with a list of reader options; the first
        // lines name the line and the problem.
        let text = e.to_string();
        let text = text.split("Possible fixes").next().unwrap_or(&text).trim();
        Error::BadInput(format!(
            "ingest: cannot read {what} file {}: {}. Fix the file (a {} with a header row) and ingest again",
            path.display(),
            text.replace('\n', " / "),
            if format == Format::Csv {
                "comma-separated CSV"
            } else {
                "Parquet file"
            }
        ))
    })?;
    let mut stmt = conn
        .prepare(&format!("select column_name from (describe {table})"))
        .context(|| format!("ingest: describing {}", path.display()))?;
    let columns = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .context(|| format!("ingest: describing {}", path.display()))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .context(|| format!("ingest: describing {}", path.display()))?;
    Ok(Staged {
        path,
        format,
        table,
        columns,
    })
}

/// The column names on the first line of a CSV file.
pub(super) fn csv_header(path: &Path) -> Result<(Vec<String>, char)> {
    use std::io::BufRead;
    let file = std::fs::File::open(path).context(|| format!("ingest: opening {}", path.display()))?;
    let mut line = String::new();
    std::io::BufReader::new(file)
        .read_line(&mut line)
        .context(|| format!("ingest: reading the header of {}", path.display()))?;
    let line = line.trim_start_matches('\u{feff}').trim_end_matches(['\n', '\r']);
    let delimiter = delimiter_of(line);
    let names: Vec<String> = line
        .split(delimiter)
        .map(|c| c.trim().trim_matches('"').to_string())
        .collect();
    if names.iter().all(String::is_empty) {
        return Err(Error::BadInput(format!(
            "ingest: {} is empty or has no header line; the first line must name the columns",
            path.display()
        )));
    }
    Ok((names, delimiter))
}

/// The column separator of a CSV file, from its header line: a comma when
/// it has one, else the semicolon, tab or bar it uses most (the exports of
/// spreadsheets set to a decimal comma use semicolons).
fn delimiter_of(header: &str) -> char {
    if header.contains(',') {
        return ',';
    }
    [';', '\t', '|']
        .into_iter()
        .map(|d| (header.matches(d).count(), d))
        .filter(|(n, _)| *n > 0)
        .max_by_key(|(n, _)| *n)
        .map_or(',', |(_, d)| d)
}

/// Refuses missing columns, unparseable values and duplicate or empty keys.
pub(super) fn check_file(conn: &Connection, file: &Staged<'_>, spec: &[Column], key: &str) -> Result<()> {
    let missing: Vec<&str> = spec
        .iter()
        .filter(|c| c.required && !file.has(c.name))
        .map(|c| c.name)
        .collect();
    if !missing.is_empty() {
        let required: Vec<&str> = spec.iter().filter(|c| c.required).map(|c| c.name).collect();
        return Err(Error::BadInput(format!(
            "ingest: {} is missing column(s) {}; required: {}; found: {}",
            file.path.display(),
            missing.join(", "),
            required.join(", "),
            file.columns
                .iter()
                .filter(|c| *c != "__row")
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    for c in spec.iter().filter(|c| file.has(c.name)) {
        let bad: Option<(i64, String)> = conn
            .query_row(
                &format!(
                    "select __row, \"{n}\"::varchar from {t} \
                     where \"{n}\" is not null and try_cast(\"{n}\" as {ty}) is null \
                     order by __row limit 1",
                    n = c.name,
                    t = file.table,
                    ty = c.sql_type
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map(Some)
            .or_else(|e| match e {
                duckdb::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
            .context(|| format!("ingest: checking column {} of {}", c.name, file.path.display()))?;
        if let Some((row, value)) = bad {
            return Err(Error::BadInput(format!(
                "ingest: {}, {}, column {}: cannot read {value:?} as {}; fix the value and ingest again",
                file.path.display(),
                file.place(row),
                c.name,
                c.sql_type
            )));
        }
        if c.sql_type == "double" {
            // NaN and ±infinity read as doubles, but are no measurement.
            let bad: Option<(i64, String)> = conn
                .query_row(
                    &format!(
                        "select __row, \"{n}\"::varchar from {t} \
                         where not isfinite(try_cast(\"{n}\" as double)) order by __row limit 1",
                        n = c.name,
                        t = file.table
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .context(|| format!("ingest: checking column {} of {}", c.name, file.path.display()))?;
            if let Some((row, value)) = bad {
                return Err(Error::BadInput(format!(
                    "ingest: {}, {}, column {}: {value:?} is not a finite number; give a number or \
                     leave it empty, and ingest again",
                    file.path.display(),
                    file.place(row),
                    c.name
                )));
            }
        }
    }
    let empty: Option<i64> = conn
        .query_row(
            &format!("select min(__row) from {} where \"{key}\" is null", file.table),
            [],
            |r| r.get(0),
        )
        .context(|| format!("ingest: checking {key} of {}", file.path.display()))?;
    if let Some(row) = empty {
        return Err(Error::BadInput(format!(
            "ingest: {}, {}: {key} is empty; every row needs a {key}",
            file.path.display(),
            file.place(row)
        )));
    }
    let dup: Option<(String, i64, i64)> = conn
        .query_row(
            &format!(
                "select \"{key}\"::varchar, min(__row), max(__row) from {t} \
                 group by \"{key}\" having count(*) > 1 order by min(__row) limit 1",
                t = file.table
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            duckdb::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .context(|| format!("ingest: checking {key} of {}", file.path.display()))?;
    if let Some((value, first, other)) = dup {
        return Err(Error::BadInput(format!(
            "ingest: {}: duplicate {key} {value:?} at {} and {}; each {key} must appear once",
            file.path.display(),
            file.place(first),
            file.place(other)
        )));
    }
    Ok(())
}

/// In append mode, refuses a key that is already stored, naming its place.
pub(super) fn refuse_stored_keys(
    conn: &Connection,
    file: &Staged<'_>,
    table: &str,
    key: &str,
    ty: &str,
) -> Result<()> {
    let clash: Option<(String, i64)> = conn
        .query_row(
            &format!(
                "select raw.\"{key}\"::varchar, raw.__row from {raw} as raw \
                 inner join {table} on {table}.{key} = cast(raw.\"{key}\" as {ty}) \
                 order by raw.__row limit 1",
                raw = file.table
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            duckdb::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .context(|| {
            format!(
                "ingest: checking {key} of {} against {table}",
                file.path.display()
            )
        })?;
    match clash {
        Some((value, row)) => Err(Error::BadInput(format!(
            "ingest --mode append: {}, {}: {key} {value:?} is already stored; append adds new {table} only \
             (drop the row, or use --mode replace to reload everything)",
            file.path.display(),
            file.place(row)
        ))),
        None => Ok(()),
    }
}

/// The select that casts a staged file to the canonical columns.
pub(super) fn typed_select(file: &Staged<'_>, spec: &[Column]) -> String {
    let exprs: Vec<String> = spec
        .iter()
        .map(|c| {
            if file.has(c.name) {
                format!("cast(\"{n}\" as {ty}) as {n}", n = c.name, ty = c.sql_type)
            } else if c.name == "is_paid" {
                "cast(\"plan\" as varchar) = 'paid' as is_paid".to_string()
            } else {
                format!("cast(null as {ty}) as {n}", n = c.name, ty = c.sql_type)
            }
        })
        .collect();
    format!("select {} from {} order by __row", exprs.join(", "), file.table)
}

/// Replaces `users` and `events` with the two files.
pub fn run(
    conn: &Connection,
    users: &Path,
    events: &Path,
    mode: IngestMode,
    load_id: &str,
) -> Result<Outcome> {
    let u = stage_file(conn, users, "ingest_users_raw", "users")?;
    check_file(conn, &u, USER_COLUMNS, "user_id")?;
    let e = stage_file(conn, events, "ingest_events_raw", "events")?;
    check_file(conn, &e, EVENT_COLUMNS, "event_id")?;
    let (before_users, before_events): (i64, i64) = conn
        .query_row(
            "select (select count(*) from users), (select count(*) from events)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context(|| "ingest: counting stored rows".into())?;
    let clear = match mode {
        IngestMode::Replace => {
            "delete from events; delete from users; delete from synthetic_truth; delete from simulation;"
        }
        IngestMode::Append => {
            refuse_stored_keys(conn, &u, "users", "user_id", "VARCHAR")?;
            refuse_stored_keys(conn, &e, "events", "event_id", "BIGINT")?;
            ""
        }
    };
    conn.execute_batch(clear)
        .context(|| "ingest: clearing the stored users and events".into())?;
    // Every row carries the load's id (a bound parameter), the last column.
    for (table, select) in [
        ("users", typed_select(&u, USER_COLUMNS)),
        ("events", typed_select(&e, EVENT_COLUMNS)),
    ] {
        conn.execute(
            &format!("insert into {table} select *, ?::varchar as load_id from ({select})"),
            [load_id],
        )
        .context(|| format!("ingest: loading {table}"))?;
    }
    conn.execute_batch("drop table ingest_users_raw; drop table ingest_events_raw;")
        .context(|| "ingest: dropping the staged files".into())?;
    let n_users: i64 = conn
        .query_row("select count(*) from users", [], |r| r.get(0))
        .context(|| "ingest: counting users".into())?;
    let n_events: i64 = conn
        .query_row("select count(*) from events", [], |r| r.get(0))
        .context(|| "ingest: counting events".into())?;
    let (added_users, added_events) = match mode {
        IngestMode::Replace => (n_users, n_events),
        IngestMode::Append => (n_users - before_users, n_events - before_events),
    };
    Ok(Outcome {
        rows_out: added_users + added_events,
        params: serde_json::json!({
            "users_file": users.display().to_string(),
            "events_file": events.display().to_string(),
            "mode": if mode == IngestMode::Append { "append" } else { "replace" },
        }),
        failure: None,
        summary: format!(
            "{added_users} users and {added_events} events loaded ({n_users} and {n_events} stored); next: {}",
            match mode {
                // New days of the same population: the daily loop.
                IngestMode::Append => {
                    "`churn run --stage validate --stage prepare --stage features --stage score` (the day's \
                     work; `churn run --from validate` also retrains)"
                }
                // Another population: everything, a model of this data included.
                IngestMode::Replace => {
                    "`churn run --from validate` (through train and promote: score refuses a model trained \
                     on the data this replaced)"
                }
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::delimiter_of;

    #[test]
    fn the_delimiter_is_read_from_the_header() {
        assert_eq!(delimiter_of("user_id,signup_date,plan"), ',');
        assert_eq!(delimiter_of("user_id;signup_date;plan"), ';');
        assert_eq!(delimiter_of("user_id\tsignup_date\tplan"), '\t');
        assert_eq!(delimiter_of("user_id|signup_date|plan"), '|');
        assert_eq!(delimiter_of("user_id"), ',');
        // A comma wins: names may hold other characters.
        assert_eq!(delimiter_of("id,\"a;b\",c"), ',');
    }
}
