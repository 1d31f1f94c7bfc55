//! generate: writes the synthetic world of `crate::simulation` into `users`,
//! `events` and `synthetic_truth` with DuckDB's Appender (Arrow record
//! batches), and records each call in `simulation`.
//!
//! Users are simulated on worker threads a chunk at a time and appended in
//! index order, so the tables are the same whatever the thread count.
//! `append` continues the simulation in the file for N more days: the same
//! users keep their hidden state (read back from `users` and
//! `synthetic_truth`), new users keep arriving at the calibrated rate, and
//! `[generate.drift]` changes behaviour from a given day on.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use chrono::NaiveDate;
use duckdb::Connection;
use duckdb::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Float64Builder, Int64Array, StringArray,
    StringBuilder, TimestampMicrosecondBuilder,
};
use duckdb::arrow::record_batch::RecordBatch;

use crate::config::{DriftScenario, GenerateConfig};
use crate::error::{Context, Error, Result};
use crate::simulation::{COUNTRIES, Event, SECONDS_PER_DAY, SOURCES, User, World};
use crate::sql;
use crate::stages::{Ctx, Outcome, StageDef};

const USERS_PER_CHUNK: usize = 512;

/// A chunk of consecutive users' events, as Arrow columns.
struct Chunk {
    users: usize,
    user_id: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    event_type: StringBuilder,
    course_id: StringBuilder,
    watch_minutes: Float64Builder,
    quiz_score: Float64Builder,
    amount: Float64Builder,
    n_events: usize,
}

impl Chunk {
    fn new() -> Chunk {
        Chunk {
            users: 0,
            user_id: StringBuilder::new(),
            event_time: TimestampMicrosecondBuilder::new(),
            event_type: StringBuilder::new(),
            course_id: StringBuilder::new(),
            watch_minutes: Float64Builder::new(),
            quiz_score: Float64Builder::new(),
            amount: Float64Builder::new(),
            n_events: 0,
        }
    }

    fn push(&mut self, user_id: &str, day_start_us: i64, e: &Event) {
        self.user_id.append_value(user_id);
        self.event_time.append_value(day_start_us + e.second * 1_000_000);
        self.event_type.append_value(e.kind.name());
        self.course_id.append_option(e.course);
        self.watch_minutes.append_option(e.watch_minutes);
        self.quiz_score.append_option(e.quiz_score);
        self.amount.append_option(e.amount);
        self.n_events += 1;
    }

    /// The events as a record batch in `events` column order (load_id
    /// left to the column's default, `Tagged`), ids from `first_id`.
    fn events_batch(&mut self, first_id: i64) -> Result<RecordBatch> {
        let ids = Int64Array::from_iter_values(first_id..first_id + self.n_events as i64);
        let columns: Vec<(&str, ArrayRef)> = vec![
            ("event_id", Arc::new(ids)),
            ("user_id", Arc::new(self.user_id.finish())),
            ("event_time", Arc::new(self.event_time.finish())),
            ("event_type", Arc::new(self.event_type.finish())),
            ("course_id", Arc::new(self.course_id.finish())),
            ("watch_minutes", Arc::new(self.watch_minutes.finish())),
            ("quiz_score", Arc::new(self.quiz_score.finish())),
            ("amount", Arc::new(self.amount.finish())),
        ];
        RecordBatch::try_from_iter(columns).context(|| "generate: building the events batch".into())
    }
}

fn build_chunk(world: &World, scenario: &DriftScenario, users: &[User], days: std::ops::Range<u32>) -> Chunk {
    let mut chunk = Chunk::new();
    let start_us = world
        .cfg
        .start_date
        .and_hms_opt(0, 0, 0)
        .expect("midnight")
        .and_utc()
        .timestamp_micros();
    for user in users {
        world.simulate_user(scenario, user, days.clone(), &mut |day, ev| {
            let day_start_us = start_us + i64::from(day) * SECONDS_PER_DAY * 1_000_000;
            chunk.push(&user.user_id, day_start_us, ev);
        });
    }
    chunk.users = users.len();
    chunk
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn users_batches(world: &World, users: &[User], load_id: &str) -> Result<(RecordBatch, RecordBatch)> {
    let tag: ArrayRef = Arc::new(StringArray::from(vec![load_id; users.len()]));
    let user_id: ArrayRef = Arc::new(StringArray::from_iter_values(
        users.iter().map(|u| u.user_id.as_str()),
    ));
    let users_batch = RecordBatch::try_from_iter(vec![
        ("user_id", user_id.clone()),
        (
            "signup_date",
            Arc::new(Date32Array::from_iter_values(
                users.iter().map(|u| days_since_epoch(world.date(u.signup_day))),
            )) as ArrayRef,
        ),
        (
            "plan",
            Arc::new(StringArray::from_iter_values(
                users.iter().map(|u| if u.paid { "paid" } else { "free" }),
            )),
        ),
        (
            "is_paid",
            Arc::new(BooleanArray::from_iter(users.iter().map(|u| Some(u.paid)))),
        ),
        (
            "country",
            Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.country))),
        ),
        (
            "marketing_source",
            Arc::new(StringArray::from_iter_values(users.iter().map(|u| u.source))),
        ),
        ("load_id", tag.clone()),
    ]);
    let truth_batch = RecordBatch::try_from_iter(vec![
        ("user_id", user_id),
        (
            "engagement",
            Arc::new(Float64Array::from_iter_values(users.iter().map(|u| u.engagement))) as ArrayRef,
        ),
        (
            "daily_hazard",
            Arc::new(Float64Array::from_iter_values(
                users.iter().map(|u| u.daily_hazard),
            )),
        ),
        (
            "churn_probability",
            Arc::new(Float64Array::from_iter_values(
                users.iter().map(User::churn_probability_30d),
            )),
        ),
        (
            "churn_date",
            Arc::new(Date32Array::from_iter(
                users
                    .iter()
                    .map(|u| u.churn_day.map(|d| days_since_epoch(world.date(d)))),
            )),
        ),
        ("load_id", tag),
    ]);
    Ok((
        users_batch.context(|| "generate: building the users batch".into())?,
        truth_batch.context(|| "generate: building the synthetic_truth batch".into())?,
    ))
}

/// `events.load_id` defaulting to this load's id while the generator
/// appends: the appender leaves the column out and DuckDB fills it with the
/// one constant, instead of a copy of the same string for every event
/// (copied, checked as UTF-8, counted into the column's statistics and
/// dictionary one row at a time by the one appending thread: generate's
/// bottleneck, bench/README.md). Set and dropped inside the stage's
/// transaction, so no other writer ever sees the default.
struct Tagged<'c>(&'c Connection);

impl<'c> Tagged<'c> {
    fn new(conn: &'c Connection, load_id: &str) -> Result<Tagged<'c>> {
        conn.execute_batch(&format!(
            "alter table events alter column load_id set default {}",
            crate::store::quote::string(load_id)
        ))
        .context(|| "generate: tagging the new events with their load".into())?;
        Ok(Tagged(conn))
    }

    /// An appender of `events` for the columns of `batch` (all but load_id).
    fn appender(&self, batch: &RecordBatch) -> Result<duckdb::Appender<'c>> {
        let schema = batch.schema();
        let columns: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        self.0
            .appender_with_columns("events", &columns)
            .context(|| "generate: opening the events appender".into())
    }

    fn done(self) -> Result<()> {
        self.0
            .execute_batch("alter table events alter column load_id drop default")
            .context(|| "generate: tagging the new events with their load".into())
    }
}

/// Simulates `days` of `users` on worker threads and appends their events
/// in user order, with ids from `first_event_id`, tagged with `load_id`.
/// Returns the event count.
fn simulate(
    conn: &Connection,
    world: &World,
    scenario: &DriftScenario,
    users: &[User],
    days: std::ops::Range<u32>,
    (first_event_id, load_id): (i64, &str),
    progress: &indicatif::ProgressBar,
) -> Result<i64> {
    let chunks: Vec<&[User]> = users.chunks(USERS_PER_CHUNK).collect();
    let n_chunks = chunks.len();
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(n_chunks)
        .max(1);
    let next = AtomicUsize::new(0);
    let mut n_events: i64 = 0;
    progress.set_length(users.len() as u64);

    std::thread::scope(|scope| {
        // Bounded: workers that outrun the one appender wait, instead of
        // piling chunks up (the whole world's events at a million users).
        let (tx, rx) = mpsc::sync_channel::<(usize, Chunk)>(2 * workers);
        for _ in 0..workers {
            let tx = tx.clone();
            let (next, chunks, days) = (&next, &chunks, days.clone());
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n_chunks {
                        break;
                    }
                    if tx
                        .send((i, build_chunk(world, scenario, chunks[i], days.clone())))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let tagged = Tagged::new(conn, load_id)?;
        // Opened on the first batch, for the columns it holds.
        let mut appender = None;
        let mut pending = BTreeMap::new();
        let mut want = 0;
        for (i, chunk) in rx {
            pending.insert(i, chunk);
            while let Some(mut chunk) = pending.remove(&want) {
                let batch = chunk.events_batch(first_event_id + n_events)?;
                let appender = match &mut appender {
                    Some(appender) => appender,
                    None => appender.insert(tagged.appender(&batch)?),
                };
                appender
                    .append_record_batch(batch)
                    .context(|| "generate: appending events".into())?;
                n_events += chunk.n_events as i64;
                progress.inc(chunk.users as u64);
                want += 1;
            }
        }
        if let Some(mut appender) = appender {
            appender.flush().context(|| "generate: flushing events".into())?;
        }
        tagged.done()
    })?;
    progress.finish_and_clear();
    Ok(n_events)
}

/// Appends `users` to `users` and `synthetic_truth`, tagged with `load_id`.
fn insert_users(conn: &Connection, world: &World, users: &[User], load_id: &str) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let (users_batch, truth_batch) = users_batches(world, users, load_id)?;
    for (table, batch) in [("users", users_batch), ("synthetic_truth", truth_batch)] {
        let mut appender = conn
            .appender(table)
            .context(|| format!("generate: opening the {table} appender"))?;
        appender
            .append_record_batch(batch)
            .context(|| format!("generate: appending {table}"))?;
        appender
            .flush()
            .context(|| format!("generate: flushing {table}"))?;
    }
    Ok(())
}

/// Rewrites the hidden hazard and churn date of stored `users` (after a
/// change of churn driver).
fn update_truth(conn: &Connection, world: &World, users: &[User]) -> Result<()> {
    let (_, truth) = users_batches(world, users, "")?;
    conn.execute_batch(
        "create or replace table generate_truth_update as select * from synthetic_truth limit 0",
    )
    .context(|| "generate: preparing the truth update".into())?;
    let mut appender = conn
        .appender("generate_truth_update")
        .context(|| "generate: preparing the truth update".into())?;
    appender
        .append_record_batch(truth)
        .and_then(|()| appender.flush())
        .context(|| "generate: preparing the truth update".into())?;
    drop(appender);
    conn.execute_batch(
        "update synthetic_truth t set daily_hazard = u.daily_hazard, churn_probability = u.churn_probability,
             churn_date = u.churn_date
         from generate_truth_update u where u.user_id = t.user_id;
         drop table generate_truth_update;",
    )
    .context(|| "generate: updating synthetic_truth".into())
}

/// One row of `simulation`: what a generate or append call simulated.
fn record_simulation(
    conn: &Connection,
    mode: &str,
    cfg: &GenerateConfig,
    scenario: &DriftScenario,
    days: &std::ops::Range<u32>,
    users_added: usize,
    events_added: i64,
) -> Result<()> {
    conn.execute(
        "insert into simulation values (current_timestamp, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        duckdb::params![
            mode,
            cfg.seed.to_string(),
            cfg.start_date,
            days.start,
            days.end,
            users_added as i64,
            events_added,
            serde_json::to_string(cfg).unwrap_or_default(),
            serde_json::to_string(scenario).unwrap_or_default(),
        ],
    )
    .context(|| "generate: recording the simulation".into())?;
    Ok(())
}

/// Replaces `users`, `events` and `synthetic_truth` with a fresh simulation.
pub fn run(
    conn: &Connection,
    cfg: &GenerateConfig,
    scenario: &DriftScenario,
    load_id: &str,
    progress: &indicatif::ProgressBar,
) -> Result<Outcome> {
    for table in ["events", "users", "simulation"] {
        conn.execute_batch(&format!("delete from {table}"))
            .context(|| format!("generate: clearing {table}"))?;
    }
    // Recreated rather than cleared: a file written by an older generator
    // holds another layout of the hidden state.
    conn.execute_batch(&format!(
        "drop table if exists synthetic_truth;\n{}",
        sql::render("schema/synthetic_truth.sql", &sql::SqlContext::empty())?
    ))
    .context(|| "generate: recreating synthetic_truth".into())?;
    let world = World::new(cfg);
    let mut users = world.initial_population();
    // The start date's population is the steady state drawn above: arrivals
    // begin on the next day.
    users.extend(world.arrivals(1..cfg.days, cfg.users, scenario));
    let days = 0..cfg.days;
    world.switch_churn_driver(scenario, days.clone(), &mut users);
    let n_events = simulate(
        conn,
        &world,
        scenario,
        &users,
        days.clone(),
        (1, load_id),
        progress,
    )?;
    insert_users(conn, &world, &users, load_id)?;
    record_simulation(conn, "generate", cfg, scenario, &days, users.len(), n_events)?;
    Ok(Outcome {
        rows_out: n_events,
        params: serde_json::json!({
            "generate": cfg,
            "drift": scenario,
            "hazard_scale": world.hazard_scale,
            "arrivals_per_day": world.arrival_rate,
        }),
        failure: None,
        summary: format!(
            "{} users ({} present on {}, {} arriving), {} events over {} days",
            users.len(),
            cfg.users,
            cfg.start_date,
            users.len() - cfg.users as usize,
            n_events,
            cfg.days,
        ),
    })
}

/// The original config and the next day to simulate of the simulation in
/// the file.
fn simulation_state(conn: &Connection) -> Result<(GenerateConfig, u32)> {
    let not_synthetic = || {
        Error::MissingInput(
            "--append-days continues a synthetic simulation and this database holds none: run \
             `churn run --stage generate` first (for your own data, `churn ingest --mode append`)"
                .into(),
        )
    };
    let row: Option<(String, u32)> = conn
        .query_row(
            "select (select config_json from simulation where mode = 'generate' order by generated_at limit 1), \
             max(last_day) from simulation",
            [],
            |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<u32>>(1)?)),
        )
        .context(|| "generate: reading the simulation state".into())
        .map(|(c, d)| c.zip(d))?;
    let (config_json, next_day) = row.ok_or_else(not_synthetic)?;
    let cfg: GenerateConfig = serde_json::from_str(&config_json).context(|| {
        "generate: the stored simulation config is unreadable; regenerate with `churn run --stage generate`".into()
    })?;
    let (users, truth): (i64, i64) = conn
        .query_row(
            "select (select count(*) from users), (select count(*) from synthetic_truth \
             where user_id in (select user_id from users))",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .context(|| "generate: counting users".into())?;
    if users == 0 || users != truth {
        return Err(not_synthetic());
    }
    Ok((cfg, next_day))
}

/// The users of the simulation with their hidden state, in index order.
fn load_users(conn: &Connection, world: &World) -> Result<Vec<User>> {
    let mut stmt = conn
        .prepare(
            "select u.user_id, u.signup_date, u.is_paid, u.country, u.marketing_source, \
             t.engagement, t.daily_hazard, t.churn_date \
             from users u join synthetic_truth t using (user_id) order by u.user_id",
        )
        .context(|| {
            "generate: reading the users' hidden state (a file from an older generator: regenerate with \
             `churn run --stage generate`)"
                .into()
        })?;
    type Row = (
        String,
        NaiveDate,
        bool,
        String,
        String,
        f64,
        f64,
        Option<NaiveDate>,
    );
    let rows: Vec<Row> = stmt
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
            ))
        })
        .and_then(|rows| rows.collect())
        .context(|| "generate: reading users".into())?;
    let lookup = |set: &[&'static str], v: &str| set.iter().copied().find(|c| *c == v);
    let start = world.cfg.start_date;
    rows.into_iter()
        .map(|(user_id, signup, paid, country, source, engagement, daily_hazard, churn)| {
            let index = user_id
                .strip_prefix('u')
                .and_then(|n| n.parse::<u32>().ok())
                .filter(|&n| n >= 1)
                .map(|n| n - 1);
            let (Some(index), Some(country), Some(source)) =
                (index, lookup(&COUNTRIES, &country), lookup(&SOURCES, &source))
            else {
                return Err(Error::BadInput(format!(
                    "user {user_id} is not one the generator made: --append-days continues synthetic data only"
                )));
            };
            Ok(User {
                index,
                user_id,
                signup_day: (signup - start).num_days(),
                paid,
                country,
                source,
                engagement,
                daily_hazard,
                churn_day: churn.map(|d| (d - start).num_days()),
            })
        })
        .collect()
}

/// Continues the simulation in the file for `n_days` more days: the same
/// users keep their hidden state, new users keep arriving.
pub fn append(
    conn: &Connection,
    scenario: &DriftScenario,
    n_days: u32,
    load_id: &str,
    progress: &indicatif::ProgressBar,
) -> Result<Outcome> {
    if n_days == 0 {
        return Err(Error::Usage("--append-days must be at least 1".into()));
    }
    let (cfg, first_day) = simulation_state(conn)?;
    let world = World::new(&cfg);
    let days = first_day..first_day + n_days;
    let stored = load_users(conn, &world)?;
    let next_index = stored.iter().map(|u| u.index + 1).max().unwrap_or(0);
    // Only users still present on the first new day act.
    let mut users: Vec<User> = stored
        .into_iter()
        .filter(|u| u.churn_day.is_none_or(|c| c > i64::from(first_day)))
        .collect();
    let n_old = users.len();
    let switched = world.switch_churn_driver(scenario, days.clone(), &mut users);
    if switched > 0 {
        update_truth(conn, &world, &users)?;
        tracing::info!(
            "generate: the churn driver switches to {:?} on day {}: {switched} present users draw their \
             remaining life anew",
            scenario.churn_driver,
            scenario.start_day
        );
    }
    users.extend(world.arrivals(days.clone(), next_index, scenario));
    let first_id: i64 = conn
        .query_row("select coalesce(max(event_id), 0) + 1 from events", [], |r| {
            r.get(0)
        })
        .context(|| "generate: reading the last event id".into())?;
    let n_events = simulate(
        conn,
        &world,
        scenario,
        &users,
        days.clone(),
        (first_id, load_id),
        progress,
    )?;
    let added = users.len() - n_old;
    insert_users(conn, &world, &users[n_old..], load_id)?;
    record_simulation(conn, "append", &cfg, scenario, &days, added, n_events)?;
    let (from, to) = (
        world.date(i64::from(days.start)),
        world.date(i64::from(days.end) - 1),
    );
    Ok(Outcome {
        rows_out: n_events,
        params: serde_json::json!({"append_days": n_days, "from": from, "to": to, "drift": scenario}),
        failure: None,
        summary: format!("appended {n_days} days ({from} to {to}): {n_events} events, {added} new users"),
    })
}

/// The generate stage (docs/design.md §2): a new synthetic world, or with
/// `append_days` the same world continued for that many days.
#[derive(Debug, Default)]
pub struct Generate {
    pub append_days: Option<u32>,
}

impl StageDef for Generate {
    fn name(&self) -> &'static str {
        "generate"
    }

    fn writes(&self) -> &'static [&'static str] {
        &["users", "events", "synthetic_truth", "simulation"]
    }

    fn is_load(&self) -> bool {
        true
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        let bar = ctx.progress_bar("users");
        let g = &ctx.config.generate;
        let load_id = ctx.load_id(self.name());
        match self.append_days {
            Some(days) => append(conn, &g.drift, days, &load_id, &bar),
            None => run(conn, g, &g.drift, &load_id, &bar),
        }
    }
}
