//! prepare: `user_daily`, the dense per-user daily table (sql/prepare/user_daily.sql).
//!
//! Large inputs are built a batch of users at a time (`stages::batches`),
//! cut by their events: DuckDB's memory for the daily aggregate, the join
//! and the sort then follows the batch, not the whole file (at 100,000
//! users, 4.9 GB in one statement). The table comes out the same, row for
//! row; each batch is written in date order.

use chrono::NaiveDate;
use duckdb::{Connection, OptionalExt};

use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::sql::{self, SqlContext};
use crate::stages::incremental::{self, Derived, Maintained, Mode, Watermark};
use crate::stages::{Ctx, Outcome, Stage, StageDef, Template, batches};

const TEMPLATE: &str = "prepare/user_daily.sql";
const TABLE: &str = "user_daily";

/// The checks whose failing rows would break the daily grid: one event
/// dated 2100 among 300 made 8 million rows of `user_daily`, and a NaN
/// cannot be summed exactly.
const GRID_GUARDS: [&str; 3] = [
    "validate/events_time_not_after_load.sql",
    "validate/events_time_after_earliest_date.sql",
    "validate/events_values_finite.sql",
];

/// The events user_daily is built from: all but those of loads validate
/// refused (as the template's `quarantine`).
const KEPT_EVENTS: &str = "(select * from events where load_id is null \
     or load_id not in (select load_id from load_checks where verdict = 'refused'))";

/// Refuses to build the grid over an event dated far in the future or the
/// past, or a value that is not a finite number, whatever the severity its
/// validate check was given: such a date would give every user a row for
/// every day up to it. `ctx.checked_events` names the events to look at.
fn refuse_dates_out_of_range(conn: &Connection, ctx: &SqlContext) -> Result<()> {
    for check in GRID_GUARDS {
        let failing = sql::render(check, ctx)?;
        let first: Option<(i64, i64, String, String)> = conn
            .query_row(
                &format!(
                    "select count(*) over (), events.event_id, events.user_id::varchar, \
                     events.event_time::varchar \
                     from ({failing}) as failing \
                     inner join {} as events on events.event_id = failing.event_id limit 1",
                    ctx.checked_events
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()
            .context(|| format!("prepare: running sql/{check}"))?;
        if let Some((n, event_id, user_id, time)) = first {
            return Err(Error::BadInput(format!(
                "prepare: {n} event(s) break \"{}\", e.g. event {event_id} of user {user_id} at {time}: the daily \
                 grid would run to that date for every user. Fix or remove them and load again, or widen \
                 validate.future_slack_days / validate.earliest_date if the dates are right (sql/{check})",
                sql::header(check, "assert").unwrap_or_default()
            )));
        }
    }
    Ok(())
}

/// Events per batch: 100,000 users × 120 days (23.4 million events) make 4
/// batches; the default 2,000 users one.
pub const EVENTS_PER_BATCH: i64 = 6_000_000;

pub fn run(conn: &Connection, ctx: &SqlContext) -> Result<Outcome> {
    run_in_batches(conn, ctx, EVENTS_PER_BATCH)
}

/// `run` with a given batch size (tests use tiny ones).
pub fn run_in_batches(conn: &Connection, ctx: &SqlContext, events_per_batch: i64) -> Result<Outcome> {
    conn.execute_batch(&format!("create or replace temp view _kept_events as {KEPT_EVENTS}"))
        .context(|| "prepare: naming the events to build from".into())?;
    refuse_dates_out_of_range(
        conn,
        &SqlContext {
            checked_events: "_kept_events",
            ..ctx.clone()
        },
    )?;
    let plan = batches::plan(
        conn,
        Stage::Prepare,
        "select count(*) from events",
        "select users.user_id, count(events.user_id) as n
         from users left join events on events.user_id = users.user_id
         group by users.user_id",
        events_per_batch,
    )?;
    let n_batches = plan.len();
    let dates = batches::dates(
        conn,
        Stage::Prepare,
        &plan,
        &format!("select min(event_time)::date, max(event_time)::date from {KEPT_EVENTS}"),
    )?;
    batches::build(conn, Stage::Prepare, "user_daily", TEMPLATE, ctx, &plan, dates)?;
    let (rows, users, first, last): (i64, i64, String, String) = conn
        .query_row(
            "select count(*), count(distinct user_id), min(activity_date)::varchar, \
             max(activity_date)::varchar from user_daily",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .context(|| "prepare: summarizing user_daily".into())?;
    Ok(Outcome {
        rows_out: rows,
        params: serde_json::json!({
            "first_date": first, "last_date": last, "users": users, "batches": n_batches,
        }),
        failure: None,
        summary: format!("user_daily has {rows} rows for {users} users from {first} to {last}"),
    })
}

/// The loads user_daily is built from, from the ledger, and those of them
/// validate refused.
struct Ledger {
    loads: Vec<String>,
    refused: Vec<String>,
}

impl Ledger {
    fn read(conn: &Connection) -> Result<Ledger> {
        let column = |sql: &str| -> Result<Vec<String>> {
            let mut stmt = conn.prepare(sql).context(|| "prepare: reading the loads".into())?;
            stmt.query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .context(|| "prepare: reading the loads".into())
        };
        Ok(Ledger {
            loads: column(
                "select load_id from loads where stage in ('generate', 'ingest') order by committed_at, load_id",
            )?,
            refused: column("select distinct load_id from load_checks where verdict = 'refused' order by 1")?,
        })
    }
}

/// How user_daily comes up to date from the loads since its watermark
/// `wm`: fills `_changes` and returns `Incremental`, or says why it must be
/// rebuilt whole. A day's rows depend on that day's events only, so a new
/// event on day e changes its user's rows from e on (and the windows after
/// them); a new user gets all their rows; new days give every user rows.
fn plan_loads(conn: &Connection, ctx: &SqlContext, wm: &Watermark, ledger: &Ledger) -> Result<(Mode, Option<NaiveDate>)> {
    let new: Vec<&String> = ledger.loads.iter().filter(|l| !wm.loads.contains(l)).collect();
    if let Some(load) = wm
        .loads
        .iter()
        .find(|l| ledger.refused.contains(l) && !wm.refused.contains(l))
    {
        return Ok((Mode::Full(format!(
            "validate refused load {load} after user_daily was built from it"
        )), None));
    }
    if let Some(load) = wm.refused.iter().find(|l| !ledger.refused.contains(l)) {
        return Ok((Mode::Full(format!(
            "validate now passes load {load}, which user_daily left out"
        )), None));
    }
    conn.execute_batch("create or replace temp table _new_loads (load_id varchar)")
        .context(|| "prepare: listing the new loads".into())?;
    for load in &new {
        conn.execute("insert into _new_loads values (?)", [load])
            .context(|| "prepare: listing the new loads".into())?;
    }
    // The new loads' rows, read once (a semi join skips most of the table).
    conn.execute_batch(
        "create or replace temp table _added_events as \
             select * from events semi join _new_loads using (load_id); \
         create or replace temp table _new_users as \
             select * from users semi join _new_loads using (load_id); \
         create or replace temp table _new_events as \
             select * from _added_events \
             where load_id not in (select load_id from load_checks where verdict = 'refused');",
    )
    .context(|| "prepare: reading the new loads".into())?;
    let count = |sql: &str| -> Result<i64> {
        conn.query_row(sql, [], |r| r.get(0))
            .context(|| "prepare: counting the new rows".into())
    };
    let added_events = count("select count(*) from _added_events")?;
    conn.execute_batch("drop table _added_events")
        .context(|| "prepare: reading the new loads".into())?;
    for (table, added, seen) in [
        ("events", added_events, wm.events_rows),
        ("users", count("select count(*) from _new_users")?, wm.users_rows),
    ] {
        let now = count(&format!("select count(*) from {table}"))?;
        if Some(now - added) != seen {
            return Ok((Mode::Full(format!(
                "{table} rows were replaced or removed since user_daily was built"
            )), None));
        }
    }
    refuse_dates_out_of_range(
        conn,
        &SqlContext {
            checked_events: "_new_events",
            ..ctx.clone()
        },
    )?;
    let (first, last): (Option<NaiveDate>, Option<NaiveDate>) = conn
        .query_row(
            "select min(event_time)::date, max(event_time)::date from _new_events",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context(|| "prepare: reading the new loads' dates".into())?;
    let (Some(wm_first), Some(wm_last)) = (wm.first_date, wm.last_date) else {
        return Ok((Mode::Full("user_daily had no dates".into()), None));
    };
    if let Some(first) = first.filter(|&f| f < wm_first) {
        return Ok((Mode::Full(format!(
            "new events on {first}, before the data's first day {wm_first}"
        )), None));
    }
    // Where each user's grid ends: the last day for the users with a row
    // on it (read from that day's rows alone), else their last row (a user
    // back after leaving, looked up alone: at 100,000 users 0.03 s where one
    // lookup of every user with new events took 0.9 s).
    conn.execute(
        "create or replace temp table _grid_end as \
         select user_id, activity_date as end_date from user_daily \
         where activity_date = ?::date and user_id in (select user_id from _new_events)",
        [wm_last],
    )
    .and_then(|_| {
        conn.execute_batch(
            "insert into _grid_end \
             select user_id, max(activity_date) from user_daily \
             where user_id in (select user_id from _new_events anti join _grid_end using (user_id)) \
             group by user_id",
        )
    })
    .context(|| "prepare: reading where the users' rows end".into())?;
    // A user's rows change from their first new event on, or from the end
    // of their grid when it had stopped before it (a user back after
    // leaving: the days between are filled), or from its start when they
    // had no rows.
    conn.execute(
        "insert into _changes \
         with new_days as ( \
             select user_id, min(event_time)::date as first_new from _new_events group by user_id \
         ) \
         select new_days.user_id, \
             least(new_days.first_new, coalesce(grid_end.end_date + 1, greatest(users.signup_date, ?::date))) \
                 as from_date \
         from new_days \
         left join _grid_end as grid_end on grid_end.user_id = new_days.user_id \
         left join users on users.user_id = new_days.user_id \
         where least(new_days.first_new, coalesce(grid_end.end_date + 1, greatest(users.signup_date, ?::date))) \
             <= ?::date",
        duckdb::params![wm_first, wm_first, wm_last],
    )
    .and_then(|_| {
        conn.execute(
            "insert into _changes select user_id, greatest(signup_date, ?::date) from _new_users",
            [wm_first],
        )
    })
    .context(|| "prepare: listing the changed rows".into())?;
    if let Some(last) = last.filter(|&l| l > wm_last) {
        conn.execute(
            "insert into _changes values (null, ?::date)",
            [wm_last + chrono::Duration::days(1)],
        )
        .context(|| format!("prepare: adding the days up to {last}"))?;
    }
    Ok((Mode::Incremental, last))
}

/// The stage's work: user_daily brought up to date from the new loads, or
/// rebuilt whole (`stages::incremental`), with its watermark.
pub fn maintain(conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
    let sql_ctx = ctx.sql();
    let definition = incremental::definition(conn, &sql::render(TEMPLATE, &sql_ctx)?)?;
    let previous = incremental::read(conn, TABLE)?;
    let ledger = Ledger::read(conn)?;
    incremental::start_changes(conn)?;
    // The new loads' last day (a day's work).
    let mut new_last = None;
    let mode = match &previous {
        _ if ctx.rebuild => Mode::Full("--full".into()),
        None => Mode::Full("first build".into()),
        Some(wm) => {
            let (mode, last) = plan_loads(conn, &sql_ctx, wm, &ledger)?;
            new_last = last;
            if mode == Mode::Incremental && wm.definition != definition {
                return Err(Error::Usage(format!(
                    "prepare: sql/{TEMPLATE} changed since user_daily was built, and a day's work would mix \
                     the two definitions: rebuild it with `churn run --stage prepare --full` (and the stages \
                     after it)"
                )));
            }
            mode
        }
    };
    let seq = previous.as_ref().map_or(0, |w| w.seq) + 1;
    let (done, full_outcome, first, last) = match &mode {
        Mode::Full(_) => {
            let out = run(conn, &sql_ctx)?;
            let (first, last) = conn
                .query_row(
                    &format!("select min(event_time)::date, max(event_time)::date from {KEPT_EVENTS}"),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .context(|| "prepare: reading the data's dates".into())?;
            incremental::log_changes(conn, TABLE, seq, &mode)?;
            let done = Maintained {
                mode: mode.clone(),
                rows_written: out.rows_out,
                users: 0,
                from_date: None,
            };
            (done, Some(out), first, last)
        }
        Mode::Incremental => {
            let wm = previous.as_ref().expect("an incremental run has a watermark");
            let from = incremental::settle_changes(conn)?;
            let last = new_last.max(wm.last_date);
            let mut done = Maintained {
                mode: mode.clone(),
                rows_written: 0,
                users: 0,
                from_date: from,
            };
            if let Some(from) = from {
                let derived = Derived {
                    stage: Stage::Prepare,
                    table: TABLE,
                    template: TEMPLATE,
                    date_column: "activity_date",
                    upstream: Vec::new(),
                };
                done.rows_written =
                    incremental::rebuild_affected(conn, &sql_ctx, &derived, from, (wm.first_date, last))?;
                done.users = conn
                    .query_row("select count(*) from _affected", [], |r| r.get(0))
                    .context(|| "prepare: counting the users rebuilt".into())?;
                incremental::log_changes(conn, TABLE, seq, &mode)?;
            }
            (done, None, wm.first_date, last)
        }
    };
    let count = |table: &str| -> Result<i64> {
        conn.query_row(&format!("select count(*) from {table}"), [], |r| r.get(0))
            .context(|| format!("prepare: counting {table}"))
    };
    let changed = done.from_date.is_some() || matches!(done.mode, Mode::Full(_));
    incremental::write(
        conn,
        &Watermark {
            table: TABLE.to_string(),
            definition,
            seq: if changed { seq } else { seq - 1 },
            consumed: Default::default(),
            refused: ledger
                .refused
                .iter()
                .filter(|l| ledger.loads.contains(l))
                .cloned()
                .collect(),
            loads: ledger.loads,
            events_rows: Some(count("events")?),
            users_rows: Some(count("users")?),
            first_date: first,
            last_date: last,
        },
        &ctx.run_id,
    )?;
    Ok(done.outcome(full_outcome, TABLE))
}

/// The prepare stage (docs/design.md §1): the dense daily table, a range of users at a time.
#[derive(Debug, Default)]
pub struct Prepare;

impl StageDef for Prepare {
    fn name(&self) -> &'static str {
        "prepare"
    }

    fn reads(&self) -> &'static [&'static str] {
        &["users", "events"]
    }

    fn maintains(&self) -> bool {
        true
    }

    fn writes(&self) -> &'static [&'static str] {
        &["user_daily"]
    }

    fn templates(&self, _config: &Config) -> Vec<Template> {
        vec![Template::table("user_daily", "prepare/user_daily.sql")]
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        maintain(conn, ctx)
    }
}
