//! A day's work for a day's data (docs/design.md §9).
//!
//! Each table the daily stages maintain (`user_daily`, `user_features_daily`,
//! `labels_daily`, `training_set`) has a row in `watermarks`: the SQL it was
//! built with (a hash), what it has processed, and a sequence number bumped
//! by every run that changes it. A run logs the rows it changed in
//! `table_changes`, compactly: "user U from day D on" per user, and "every
//! user from day D on" for new days. A table derived from another reads the
//! changes logged since the sequence number it caught up with, turns them
//! into the temp table `_affected (user_id, from_date)`, deletes its rows of
//! those users from those days on and inserts them again from its template
//! rendered with `incremental`, all in the stage's one transaction, with
//! its own watermark and change log. A full rebuild (no watermark yet,
//! `--full`, an input rebuilt or replaced) logs "everything changed".
//!
//! The incremental rows equal a rebuild's, bit for bit: every sum is of
//! integers or of decimals (exact in any order), and every rule below is
//! the templates' own definition read forward.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use duckdb::{Connection, OptionalExt, params};

use crate::error::{Context, Error, Result};
use crate::sql::{self, SqlContext};
use crate::stages::batches::BatchContext;
use crate::stages::{Ctx, Outcome, Stage};

/// A maintained table's row of `watermarks`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Watermark {
    pub table: String,
    /// sha256 of the SQL the table was built with.
    pub definition: String,
    pub seq: i64,
    /// For each table it is derived from, the seq it has caught up with.
    pub consumed: BTreeMap<String, i64>,
    /// user_daily: the loads it was built from, and those of them validate
    /// had refused (left out).
    pub loads: Vec<String>,
    pub refused: Vec<String>,
    pub events_rows: Option<i64>,
    pub users_rows: Option<i64>,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
}

/// `loads` and `refused` share the `loads` column: refused ones carry a
/// leading '!'.
const REFUSED_MARK: char = '!';

/// The watermark of `table`, if it has one.
pub fn read(conn: &Connection, table: &str) -> Result<Option<Watermark>> {
    let row = conn
        .query_row(
            "select definition, seq, consumed::varchar, coalesce(loads, []::varchar[])::varchar, \
             events_rows, users_rows, first_date, last_date \
             from watermarks where table_name = ?",
            [table],
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<NaiveDate>>(6)?,
                    r.get::<_, Option<NaiveDate>>(7)?,
                ))
            },
        )
        .optional()
        .context(|| format!("reading the watermark of {table}"))?;
    let Some((definition, seq, consumed, loads, events_rows, users_rows, first_date, last_date)) = row else {
        return Ok(None);
    };
    let consumed: BTreeMap<String, i64> = serde_json::from_str(&consumed).context(|| {
        format!("watermarks.consumed of {table} is not a map of loads to rows: rebuild {table} with `--full`")
    })?;
    let mut wm = Watermark {
        table: table.to_string(),
        definition,
        seq,
        consumed,
        events_rows,
        users_rows,
        first_date,
        last_date,
        ..Watermark::default()
    };
    for load in list_items(&loads) {
        match load.strip_prefix(REFUSED_MARK) {
            Some(refused) => {
                wm.loads.push(refused.to_string());
                wm.refused.push(refused.to_string());
            }
            None => wm.loads.push(load),
        }
    }
    Ok(Some(wm))
}

/// The items of DuckDB's text form of a varchar list, `[a, b]` (load ids
/// hold no comma or bracket).
fn list_items(text: &str) -> Vec<String> {
    text.trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|s| s.trim().trim_matches('\'').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Writes `wm` as the table's watermark.
pub fn write(conn: &Connection, wm: &Watermark, run_id: &str) -> Result<()> {
    let loads: Vec<String> = wm
        .loads
        .iter()
        .map(|l| {
            if wm.refused.contains(l) {
                format!("{REFUSED_MARK}{l}")
            } else {
                l.clone()
            }
        })
        .collect();
    let consumed = serde_json::to_string(&wm.consumed).expect("a map of numbers serializes");
    conn.execute("delete from watermarks where table_name = ?", [&wm.table])
        .and_then(|_| {
            conn.execute(
                "insert into watermarks select ?, ?, ?, ?::json, \
                 case when ? = '' then null else string_split(?, ',') end, \
                 ?, ?, ?, ?, ?, now()::timestamp",
                params![
                    wm.table,
                    wm.definition,
                    wm.seq,
                    consumed,
                    loads.join(","),
                    loads.join(","),
                    wm.events_rows,
                    wm.users_rows,
                    wm.first_date,
                    wm.last_date,
                    run_id
                ],
            )
        })
        .context(|| format!("writing the watermark of {}", wm.table))?;
    Ok(())
}

/// sha256 of the SQL a table is built with, rendered with the config: a
/// change of template or of a setting it reads changes it.
pub fn definition(conn: &Connection, rendered: &str) -> Result<String> {
    conn.query_row("select sha256(?)", [rendered], |r| r.get(0))
        .context(|| "hashing the SQL of a maintained table".into())
}

/// How a maintained table is brought up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Built again from everything, for this reason.
    Full(String),
    /// The rows in `_changes`, rebuilt.
    Incremental,
}

/// Starts the temp table `_changes (user_id, from_date)`: the compact set of
/// rows to rebuild (user_id NULL: every user).
pub fn start_changes(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "create or replace temp table _changes (user_id varchar, from_date date); \
         create or replace temp table _affected (user_id varchar, from_date date);",
    )
    .context(|| "starting the set of changed rows".into())
}

/// Adds the changes `upstream` logged after `since`, each moved `shift`
/// days (labels look 60 days ahead: a change on day e changes the labels
/// from e - 60 on). Returns false when one of them is a full rebuild.
pub fn add_changes_since(conn: &Connection, upstream: &str, since: i64, shift: i64) -> Result<bool> {
    let full: bool = conn
        .query_row(
            "select count(*) > 0 from table_changes \
             where table_name = ? and seq > ? and user_id is null and from_date is null",
            params![upstream, since],
            |r| r.get(0),
        )
        .context(|| format!("reading the changes of {upstream}"))?;
    if full {
        return Ok(false);
    }
    conn.execute(
        "insert into _changes select user_id, from_date + ?::integer from table_changes \
         where table_name = ? and seq > ?",
        params![shift, upstream, since],
    )
    .context(|| format!("reading the changes of {upstream}"))?;
    Ok(true)
}

/// Folds `_changes` to one row per user (and one for every user), and
/// expands it into `_affected`: one row per user of `users` for the
/// every-user row, the earlier date winning. Returns the earliest date,
/// `None` when nothing changed.
pub fn settle_changes(conn: &Connection) -> Result<Option<NaiveDate>> {
    conn.execute_batch(
        "create or replace temp table _changes as \
             select user_id, min(from_date) as from_date from _changes group by user_id; \
         create or replace temp table _affected as \
             with every_user as (select min(from_date) as from_date from _changes where user_id is null) \
             select user_id, min(from_date) as from_date from ( \
                 select user_id, from_date from _changes where user_id is not null \
                 union all \
                 select users.user_id, every_user.from_date from users cross join every_user \
                 where every_user.from_date is not null and users.user_id is not null \
             ) group by user_id;",
    )
    .context(|| "settling the set of changed rows".into())?;
    conn.query_row("select min(from_date) from _affected", [], |r| r.get(0))
        .context(|| "settling the set of changed rows".into())
}

/// Logs `_changes` (or, for a full rebuild, "everything") as the changes
/// of `table` under `seq`.
pub fn log_changes(conn: &Connection, table: &str, seq: i64, mode: &Mode) -> Result<()> {
    match mode {
        Mode::Full(_) => conn.execute(
            "insert into table_changes values (?, ?, null, null)",
            params![table, seq],
        ),
        Mode::Incremental => conn.execute(
            "insert into table_changes select ?, ?, user_id, from_date from _changes",
            params![table, seq],
        ),
    }
    .context(|| format!("logging the changes of {table}"))?;
    Ok(())
}

/// Removes the changes of `upstream` that every table derived from it has
/// caught up with. A derived table without a watermark will be rebuilt
/// whole, so it holds nothing back.
pub fn prune(conn: &Connection, upstream: &str) -> Result<()> {
    let mut caught_up: Option<i64> = None;
    for derived in derived_from(upstream) {
        if let Some(wm) = read(conn, derived)? {
            let seq = wm.consumed.get(upstream).copied().unwrap_or(0);
            caught_up = Some(caught_up.map_or(seq, |c| c.min(seq)));
        }
    }
    if let Some(seq) = caught_up {
        conn.execute(
            "delete from table_changes where table_name = ? and seq <= ?",
            params![upstream, seq],
        )
        .context(|| format!("removing the changes of {upstream} every reader has seen"))?;
    }
    Ok(())
}

/// The maintained tables built from `table`, from the stage catalogue.
fn derived_from(table: &str) -> Vec<&'static str> {
    Stage::ALL
        .iter()
        .filter(|s| s.def().maintains() && s.def().reads().contains(&table))
        .flat_map(|s| s.def().writes().to_vec())
        .collect()
}

/// What a derived table needs to bring itself up to date.
pub struct Derived {
    pub stage: Stage,
    pub table: &'static str,
    pub template: &'static str,
    /// The key date column of `table`.
    pub date_column: &'static str,
    /// The tables it is derived from, and how far a change of theirs moves
    /// (in days) in this table.
    pub upstream: Vec<(&'static str, i64)>,
}

/// What a maintenance run did, for the stage's outcome.
#[derive(Debug)]
pub struct Maintained {
    pub mode: Mode,
    /// Rows inserted (the whole table for a full rebuild).
    pub rows_written: i64,
    /// Users whose rows were rebuilt (incremental).
    pub users: i64,
    pub from_date: Option<NaiveDate>,
}

impl Maintained {
    /// The outcome's `params` entries.
    pub fn params(&self) -> serde_json::Value {
        match &self.mode {
            Mode::Full(reason) => serde_json::json!({"mode": "full", "reason": reason}),
            Mode::Incremental => serde_json::json!({
                "mode": "incremental",
                "rows_written": self.rows_written,
                "users": self.users,
                "from_date": self.from_date.map(|d| d.to_string()),
            }),
        }
    }

    /// The stage's outcome: the whole build's (`full`), with what this run
    /// did added, or the day's work's.
    pub fn outcome(&self, full: Option<Outcome>, table: &str) -> Outcome {
        match full {
            Some(mut out) => {
                out.summary = format!("{}; {}", out.summary, self.describe());
                merge_params(&mut out.params, self.params());
                out
            }
            None => Outcome {
                rows_out: self.rows_written,
                params: self.params(),
                failure: None,
                summary: format!("{table}: {}", self.describe()),
            },
        }
    }

    /// "rebuilt (first build)" / "12,345 rows of 100 users from 2026-05-01".
    pub fn describe(&self) -> String {
        match &self.mode {
            Mode::Full(reason) => format!("rebuilt whole ({reason})"),
            Mode::Incremental if self.rows_written == 0 && self.users == 0 => "up to date".to_string(),
            Mode::Incremental => format!(
                "{} rows of {} users from {} rebuilt",
                crate::format::thousands(self.rows_written),
                crate::format::thousands(self.users),
                self.from_date.map_or("-".to_string(), |d| d.to_string())
            ),
        }
    }
}

/// A derived table's stage work as its outcome: `maintain`, with `full`
/// (the stage's whole build, whose outcome is kept when it ran) for a
/// rebuild.
pub fn run_derived(
    conn: &Connection,
    ctx: &Ctx<'_>,
    d: &Derived,
    dates: impl FnOnce(&Connection) -> Result<(Option<NaiveDate>, Option<NaiveDate>)>,
    full: impl FnOnce(&Connection, &SqlContext) -> Result<Outcome>,
) -> Result<Outcome> {
    let sql_ctx = ctx.sql();
    let mut built = None;
    let done = maintain(conn, &sql_ctx, d, ctx.rebuild, &ctx.run_id, dates, |conn| {
        let out = full(conn, &sql_ctx)?;
        let rows = out.rows_out;
        built = Some(out);
        Ok(rows)
    })?;
    Ok(done.outcome(built, d.table))
}

/// Adds the entries of `extra` (an object) to `params` (an object).
pub fn merge_params(params: &mut serde_json::Value, extra: serde_json::Value) {
    if let (Some(to), serde_json::Value::Object(from)) = (params.as_object_mut(), extra) {
        to.extend(from);
    }
}

/// Brings a derived table up to date: a full rebuild with `full_build`
/// when it must (asked, first build, an input rebuilt), else its changed
/// rows, with `dates` given to the incremental template. Writes the
/// watermark and the change log in the caller's transaction.
pub fn maintain(
    conn: &Connection,
    ctx: &SqlContext,
    d: &Derived,
    rebuild: bool,
    run_id: &str,
    dates: impl FnOnce(&Connection) -> Result<(Option<NaiveDate>, Option<NaiveDate>)>,
    full_build: impl FnOnce(&Connection) -> Result<i64>,
) -> Result<Maintained> {
    let definition = definition(conn, &sql::render(d.template, ctx)?)?;
    let previous = read(conn, d.table)?;
    // Each input's watermark, read once: what this run catches up with.
    let mut inputs = Vec::with_capacity(d.upstream.len());
    for (upstream, shift) in &d.upstream {
        inputs.push((*upstream, *shift, read(conn, upstream)?));
    }
    let consumed: BTreeMap<String, i64> = inputs
        .iter()
        .map(|(upstream, _, wm)| (upstream.to_string(), wm.as_ref().map_or(0, |w| w.seq)))
        .collect();
    start_changes(conn)?;
    let mode = match &previous {
        _ if rebuild => Mode::Full("--full".into()),
        None => Mode::Full("first build".into()),
        Some(wm) => {
            let mut mode = Mode::Incremental;
            for (upstream, shift, up) in &inputs {
                let Some(up) = up else {
                    mode = Mode::Full(format!("{upstream} has no watermark"));
                    break;
                };
                let since = wm.consumed.get(*upstream).copied().unwrap_or(-1);
                if since > up.seq || !add_changes_since(conn, upstream, since, *shift)? {
                    mode = Mode::Full(format!("{upstream} was rebuilt"));
                    break;
                }
            }
            if mode == Mode::Incremental && wm.definition != definition {
                return Err(Error::Usage(format!(
                    "{}: sql/{} or a setting it reads changed since {} was built, and a day's work \
                     would mix the two definitions: rebuild it with `churn run --stage {} --full` \
                     (and the stages after it)",
                    d.stage, d.template, d.table, d.stage
                )));
            }
            mode
        }
    };
    let seq = previous.as_ref().map_or(0, |w| w.seq) + 1;
    let done = match &mode {
        Mode::Full(_) => {
            let rows = full_build(conn)?;
            log_changes(conn, d.table, seq, &mode)?;
            Maintained {
                mode,
                rows_written: rows,
                users: 0,
                from_date: None,
            }
        }
        Mode::Incremental => {
            let from = settle_changes(conn)?;
            let (rows, users) = match from {
                None => (0, 0),
                Some(from) => {
                    let (first_date, last_date) = dates(conn)?;
                    let rows = rebuild_affected(conn, ctx, d, from, (first_date, last_date))?;
                    log_changes(conn, d.table, seq, &mode)?;
                    let users: i64 = conn
                        .query_row("select count(*) from _affected", [], |r| r.get(0))
                        .context(|| "counting the users rebuilt".into())?;
                    (rows, users)
                }
            };
            Maintained {
                mode,
                rows_written: rows,
                users,
                from_date: from,
            }
        }
    };
    let changed = !(done.mode == Mode::Incremental && done.from_date.is_none());
    write(
        conn,
        &Watermark {
            table: d.table.to_string(),
            definition,
            seq: if changed { seq } else { seq - 1 },
            consumed,
            ..Watermark::default()
        },
        run_id,
    )?;
    for (upstream, _) in &d.upstream {
        prune(conn, upstream)?;
    }
    Ok(done)
}

/// Deletes the rows of `_affected` from `table` and inserts them again from
/// the template rendered with `incremental`. Returns the rows inserted.
pub fn rebuild_affected(
    conn: &Connection,
    ctx: &SqlContext,
    d: &Derived,
    from: NaiveDate,
    (first_date, last_date): (Option<NaiveDate>, Option<NaiveDate>),
) -> Result<i64> {
    let table = d.table;
    let column = d.date_column;
    let started = std::time::Instant::now();
    conn.execute_batch(&format!(
        "delete from {table} using _affected \
         where {table}.user_id = _affected.user_id and {table}.{column} >= _affected.from_date \
         and {table}.{column} >= date '{from}'"
    ))
    .context(|| format!("{}: removing the rows to rebuild from {table}", d.stage))?;
    tracing::debug!(stage = %d.stage, seconds = started.elapsed().as_secs_f64(), "deleted the rows to rebuild");
    let started = std::time::Instant::now();
    let select = sql::render_with(
        d.template,
        &BatchContext {
            base: ctx,
            batched: false,
            first_date,
            last_date,
            incremental: true,
            from_date: Some(from),
        },
    )?;
    tracing::trace!(stage = %d.stage, sql = %select, "rebuilding the changed rows");
    let rows = conn
        .execute(&format!("insert into {table} by name\n{select}"), [])
        .context(|| format!("{}: running sql/{} on the changed rows", d.stage, d.template))?;
    tracing::debug!(stage = %d.stage, seconds = started.elapsed().as_secs_f64(), rows, "inserted the rebuilt rows");
    Ok(rows as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_lists_read_back() {
        assert_eq!(list_items("[]"), Vec::<String>::new());
        assert_eq!(
            list_items("[run-1:generate, !run-2:ingest]"),
            vec!["run-1:generate".to_string(), "!run-2:ingest".to_string()]
        );
    }
}
