//! generate: the synthetic population of DESIGN §2, written with DuckDB's
//! Appender (Arrow record batches) into `users`, `events`, `synthetic_truth`.
//!
//! Every user draws from its own ChaCha8 stream (seed, user index): its
//! attributes at the start of the stream, each simulated day at a fixed
//! position of it (the day's number), each month's pay day at another. So the
//! output is identical for the same config whatever the thread count, users
//! are generated in parallel and appended in index order, and `--append-days`
//! continues a simulation exactly where it stopped: a day's events depend on
//! (seed, user, day) only.
//!
//! `append` adds N days after the last simulated one: the same users keep
//! their hidden state (read back from `users` and `synthetic_truth`), and new
//! users sign up at the rate of the original population. `[generate.drift]`
//! changes behaviour from a given day on, for drift demos and tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;

use chrono::{Datelike, Days, NaiveDate};
use duckdb::Connection;
use duckdb::arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Float64Array, Float64Builder, Int64Array, StringArray,
    StringBuilder, TimestampMicrosecondBuilder,
};
use duckdb::arrow::record_batch::RecordBatch;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Normal, Poisson};

use crate::config::{DriftScenario, GenerateConfig};
use crate::error::{Context, Error, Result};
use crate::stages::Outcome;

pub const COUNTRIES: [&str; 6] = ["IN", "US", "UK", "CA", "AU", "SG"];
pub const SOURCES: [&str; 5] = ["organic", "referral", "ads", "youtube", "community"];
pub const COURSES: [&str; 7] = ["c1", "c2", "c3", "c4", "c5", "c6", "c7"];
const USERS_PER_CHUNK: usize = 512;
const SECONDS_PER_DAY: i64 = 86_400;

/// A user's static attributes and hidden state.
#[derive(Debug, Clone)]
struct User {
    index: u32,
    user_id: String,
    /// Day index of the signup (negative: before the start date).
    signup_day: i64,
    signup_date: NaiveDate,
    paid: bool,
    country: &'static str,
    source: &'static str,
    engagement: f64,
    churn_probability: f64,
    /// Day index (from the start date) from which the user is gone.
    churn_day: Option<u32>,
}

#[derive(Clone, Copy)]
enum Kind {
    Login,
    VideoWatch,
    QuizAttempt,
    CourseEnroll,
    PaymentSuccess,
    PaymentFailed,
    SupportTicket,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Login => "login",
            Kind::VideoWatch => "video_watch",
            Kind::QuizAttempt => "quiz_attempt",
            Kind::CourseEnroll => "course_enroll",
            Kind::PaymentSuccess => "payment_success",
            Kind::PaymentFailed => "payment_failed",
            Kind::SupportTicket => "support_ticket",
        }
    }
}

/// One event before it gets its id.
struct Event {
    second: i64,
    kind: Kind,
    course: Option<&'static str>,
    watch_minutes: Option<f64>,
    quiz_score: Option<f64>,
    amount: Option<f64>,
}

/// A chunk of consecutive users and their events, ready to append.
struct Chunk {
    users: Vec<User>,
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
            users: Vec::new(),
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

    /// The events as a record batch in `events` column order, ids from `first_id`.
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
        RecordBatch::try_from_iter(columns).map_err(|e| Error::Other(format!("building events batch: {e}")))
    }
}

/// Draws a user's attributes and hidden state (the order of draws is fixed).
/// A user of the original population signs up before the start date; a user
/// arriving on day `arrival` signs up that day, with the churn day (if any)
/// counted from it and the paid ratio of `paid_ratio`.
fn draw_user(cfg: &GenerateConfig, index: u32, arrival: Option<u32>, paid_ratio: f64) -> User {
    let mut rng = user_rng(cfg.seed, index);
    let rng = &mut rng;
    let engagement: f64 = Beta::new(2.0, 2.5).expect("valid beta").sample(rng);
    let before = i64::from(rng.random_range(0..=max_days_before(cfg)));
    let signup_day = arrival.map_or(-before, i64::from);
    let signup_date = day_date(cfg.start_date, signup_day);
    let paid = rng.random::<f64>() < paid_ratio;
    let country = COUNTRIES[rng.random_range(0..COUNTRIES.len())];
    let source = SOURCES[rng.random_range(0..SOURCES.len())];
    let plan_factor = if paid { 0.75 } else { 1.0 };
    let churn_probability =
        (cfg.churn_base_rate * plan_factor * (0.4 + 1.4 * (1.0 - engagement).powf(1.6))).min(0.95);
    let churns = rng.random::<f64>() < churn_probability;
    let churn_day = churns.then(|| rng.random_range(cfg.days / 4..cfg.days) + arrival.unwrap_or(0));
    User {
        index,
        user_id: format!("u{:06}", index + 1),
        signup_day,
        signup_date,
        paid,
        country,
        source,
        engagement,
        churn_probability,
        churn_day,
    }
}

/// Signups happen up to this many days before the start date.
fn max_days_before(cfg: &GenerateConfig) -> u32 {
    (cfg.days / 3).max(30)
}

/// New signups per day when a simulation is continued: the original
/// population's signup rate.
fn signup_rate(cfg: &GenerateConfig) -> f64 {
    f64::from(cfg.users) / f64::from(max_days_before(cfg) + 1)
}

fn day_date(start: NaiveDate, day: i64) -> NaiveDate {
    start + chrono::Duration::days(day)
}

/// Activity multiplier on day `day`: 1, falling linearly to 0.25 on the last
/// day before the churn day over the `decay_days` days before it.
pub fn activity_factor(day: u32, churn_day: Option<u32>, decay_days: u32) -> f64 {
    match churn_day {
        Some(c) if decay_days > 0 && day < c && day + decay_days >= c => {
            let step = f64::from(day + decay_days + 1 - c); // 1..=decay_days
            1.0 - 0.75 * step / f64::from(decay_days)
        }
        _ => 1.0,
    }
}

fn clipped_normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64, lo: f64, hi: f64) -> f64 {
    Normal::new(mean, sd)
        .expect("valid normal")
        .sample(rng)
        .clamp(lo, hi)
}

/// Simulates one user's `days` into the chunk.
fn simulate_user(
    cfg: &GenerateConfig,
    scenario: &DriftScenario,
    user: &User,
    days: std::ops::Range<u32>,
    out: &mut Chunk,
) {
    let e = user.engagement;
    let base_active = 0.15 + 0.8 * e;
    let mut day_events: Vec<Event> = Vec::new();
    for day in days {
        if user.churn_day.is_some_and(|c| day >= c) {
            break;
        }
        if i64::from(day) < user.signup_day {
            continue;
        }
        let drifted = scenario.applies(day);
        let rng = &mut day_rng(cfg.seed, user.index, day);
        let date = cfg.start_date + Days::new(u64::from(day));
        day_events.clear();

        if user.paid && date.day() <= 3 {
            let month_key = (date.year() as u32) * 12 + date.month0();
            let pay_day = month_rng(cfg.seed, user.index, month_key).random_range(1..=3);
            if date.day() == pay_day {
                let success = rng.random::<f64>() < 0.93;
                let amount = clipped_normal(rng, 499.0, 80.0, 199.0, 999.0);
                day_events.push(Event {
                    second: rng.random_range(0..SECONDS_PER_DAY),
                    kind: if success {
                        Kind::PaymentSuccess
                    } else {
                        Kind::PaymentFailed
                    },
                    course: None,
                    watch_minutes: None,
                    quiz_score: None,
                    amount: Some((amount * 100.0).round() / 100.0),
                });
            }
        }

        let mut p_active = base_active * activity_factor(day, user.churn_day, cfg.pre_churn_decay_days);
        if drifted {
            p_active = (p_active * scenario.activity_multiplier).min(1.0);
        }
        if rng.random::<f64>() < p_active {
            let sessions = rng.random_range(1..=3);
            for _ in 0..sessions {
                // A session starts before 23:00 and its events follow within the hour.
                let start = rng.random_range(0..SECONDS_PER_DAY - 3600);
                let mut at = start;
                let mut next = |rng: &mut ChaCha8Rng| {
                    at += rng.random_range(30..600);
                    at
                };
                day_events.push(Event {
                    second: start,
                    kind: Kind::Login,
                    course: None,
                    watch_minutes: None,
                    quiz_score: None,
                    amount: None,
                });
                if rng.random::<f64>() < 0.5 + 0.4 * e {
                    let mut minutes = clipped_normal(rng, 20.0 + 40.0 * e, 10.0, 2.0, 180.0);
                    if drifted {
                        minutes = (minutes * scenario.watch_minutes_multiplier).clamp(2.0, 180.0);
                    }
                    day_events.push(Event {
                        second: next(rng),
                        kind: Kind::VideoWatch,
                        course: Some(COURSES[rng.random_range(0..COURSES.len())]),
                        watch_minutes: Some((minutes * 10.0).round() / 10.0),
                        quiz_score: None,
                        amount: None,
                    });
                }
                if rng.random::<f64>() < 0.25 + 0.35 * e {
                    let score = clipped_normal(rng, 50.0 + 40.0 * e, 15.0, 0.0, 100.0);
                    day_events.push(Event {
                        second: next(rng),
                        kind: Kind::QuizAttempt,
                        course: Some(COURSES[rng.random_range(0..COURSES.len())]),
                        watch_minutes: None,
                        quiz_score: Some(score.round()),
                        amount: None,
                    });
                }
                if rng.random::<f64>() < 0.05 {
                    day_events.push(Event {
                        second: next(rng),
                        kind: Kind::CourseEnroll,
                        course: Some(COURSES[rng.random_range(0..COURSES.len())]),
                        watch_minutes: None,
                        quiz_score: None,
                        amount: None,
                    });
                }
            }
        }

        if rng.random::<f64>() < 0.005 {
            day_events.push(Event {
                second: rng.random_range(0..SECONDS_PER_DAY),
                kind: Kind::SupportTicket,
                course: None,
                watch_minutes: None,
                quiz_score: None,
                amount: None,
            });
        }

        day_events.sort_by_key(|ev| ev.second);
        let day_start_us = date
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_micros();
        for ev in &day_events {
            out.push(&user.user_id, day_start_us, ev);
        }
    }
}

/// Words of a user's stream reserved for one day (far more than a day draws).
const DAY_WORDS_SHIFT: u32 = 16;
/// Where the pay-day draws of a user's stream begin.
const MONTHS_AT: u128 = 1 << 60;
/// The stream of the daily signup counts (user streams are below 2^32).
const SIGNUP_STREAM: u64 = 1 << 40;

fn stream_rng(seed: u64, stream: u64, word_pos: u128) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream);
    rng.set_word_pos(word_pos);
    rng
}

fn user_rng(seed: u64, index: u32) -> ChaCha8Rng {
    stream_rng(seed, u64::from(index), 0)
}

fn day_rng(seed: u64, index: u32, day: u32) -> ChaCha8Rng {
    stream_rng(seed, u64::from(index), (u128::from(day) + 1) << DAY_WORDS_SHIFT)
}

fn month_rng(seed: u64, index: u32, month_key: u32) -> ChaCha8Rng {
    stream_rng(seed, u64::from(index), MONTHS_AT + (u128::from(month_key) << 8))
}

/// How many users sign up on `day` of a continued simulation.
fn signups_on(cfg: &GenerateConfig, day: u32) -> u32 {
    let rate = signup_rate(cfg);
    if rate <= 0.0 {
        return 0;
    }
    let mut rng = stream_rng(cfg.seed, SIGNUP_STREAM, (u128::from(day) + 1) << DAY_WORDS_SHIFT);
    Poisson::new(rate).map_or(0, |p| p.sample(&mut rng) as u32)
}

fn build_chunk(
    cfg: &GenerateConfig,
    scenario: &DriftScenario,
    users: &[User],
    days: std::ops::Range<u32>,
) -> Chunk {
    let mut chunk = Chunk::new();
    for user in users {
        simulate_user(cfg, scenario, user, days.clone(), &mut chunk);
    }
    chunk.users = users.to_vec();
    chunk
}

fn days_since_epoch(d: NaiveDate) -> i32 {
    (d - NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

fn users_batches(users: &[User], start_date: NaiveDate) -> Result<(RecordBatch, RecordBatch)> {
    let user_id: ArrayRef = Arc::new(StringArray::from_iter_values(
        users.iter().map(|u| u.user_id.as_str()),
    ));
    let users_batch = RecordBatch::try_from_iter(vec![
        ("user_id", user_id.clone()),
        (
            "signup_date",
            Arc::new(Date32Array::from_iter_values(
                users.iter().map(|u| days_since_epoch(u.signup_date)),
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
    ]);
    let truth_batch = RecordBatch::try_from_iter(vec![
        ("user_id", user_id),
        (
            "engagement",
            Arc::new(Float64Array::from_iter_values(users.iter().map(|u| u.engagement))) as ArrayRef,
        ),
        (
            "churn_probability",
            Arc::new(Float64Array::from_iter_values(
                users.iter().map(|u| u.churn_probability),
            )),
        ),
        (
            "will_churn",
            Arc::new(BooleanArray::from_iter(
                users.iter().map(|u| Some(u.churn_day.is_some())),
            )),
        ),
        (
            "churn_date",
            Arc::new(Date32Array::from_iter(users.iter().map(|u| {
                u.churn_day
                    .map(|d| days_since_epoch(start_date + Days::new(u64::from(d))))
            }))),
        ),
    ]);
    match (users_batch, truth_batch) {
        (Ok(u), Ok(t)) => Ok((u, t)),
        (Err(e), _) | (_, Err(e)) => Err(Error::Other(format!("building users batch: {e}"))),
    }
}

/// Simulates `days` of `users` on worker threads and appends their events
/// in user order, with ids from `first_event_id`. Returns the event count.
fn simulate(
    conn: &Connection,
    cfg: &GenerateConfig,
    scenario: &DriftScenario,
    users: &[User],
    days: std::ops::Range<u32>,
    first_event_id: i64,
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
        let (tx, rx) = mpsc::channel::<(usize, Chunk)>();
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
                        .send((i, build_chunk(cfg, scenario, chunks[i], days.clone())))
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        let mut appender = conn
            .appender("events")
            .context(|| "generate: opening the events appender".into())?;
        let mut pending = BTreeMap::new();
        let mut want = 0;
        for (i, chunk) in rx {
            pending.insert(i, chunk);
            while let Some(mut chunk) = pending.remove(&want) {
                let batch = chunk.events_batch(first_event_id + n_events)?;
                appender
                    .append_record_batch(batch)
                    .context(|| "generate: appending events".into())?;
                n_events += chunk.n_events as i64;
                progress.inc(chunk.users.len() as u64);
                want += 1;
            }
        }
        appender.flush().context(|| "generate: flushing events".into())
    })?;
    progress.finish_and_clear();
    Ok(n_events)
}

/// Appends `users` to `users` and `synthetic_truth`.
fn insert_users(conn: &Connection, users: &[User], start_date: NaiveDate) -> Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    let (users_batch, truth_batch) = users_batches(users, start_date)?;
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
    progress: &indicatif::ProgressBar,
) -> Result<Outcome> {
    for table in ["events", "users", "synthetic_truth", "simulation"] {
        conn.execute_batch(&format!("delete from {table}"))
            .context(|| format!("generate: clearing {table}"))?;
    }
    let users: Vec<User> = (0..cfg.users)
        .map(|i| draw_user(cfg, i, None, cfg.paid_ratio))
        .collect();
    let days = 0..cfg.days;
    let n_events = simulate(conn, cfg, scenario, &users, days.clone(), 1, progress)?;
    insert_users(conn, &users, cfg.start_date)?;
    record_simulation(conn, "generate", cfg, scenario, &days, users.len(), n_events)?;
    Ok(Outcome {
        rows_out: n_events,
        params: serde_json::json!({"generate": cfg, "drift": scenario}),
        failure: None,
        summary: format!(
            "{} users, {} events over {} days from {}",
            users.len(),
            n_events,
            cfg.days,
            cfg.start_date
        ),
    })
}

/// The original config and the next day to simulate of the simulation in
/// the file.
fn simulation_state(conn: &Connection) -> Result<(GenerateConfig, u32)> {
    let not_synthetic = || {
        Error::MissingInput(
            "--append-days continues a synthetic simulation and this database holds none: run              `churn run --stage generate` first (for your own data, `churn ingest --mode append`)"
                .into(),
        )
    };
    let row: Option<(String, u32)> = conn
        .query_row(
            "select (select config_json from simulation where mode = 'generate' order by generated_at limit 1),              max(last_day) from simulation",
            [],
            |r| Ok((r.get::<_, Option<String>>(0)?, r.get::<_, Option<u32>>(1)?)),
        )
        .context(|| "generate: reading the simulation state".into())
        .map(|(c, d)| c.zip(d))?;
    let (config_json, next_day) = row.ok_or_else(not_synthetic)?;
    let cfg: GenerateConfig = serde_json::from_str(&config_json).map_err(|e| {
        Error::Other(format!(
            "generate: the stored simulation config is unreadable: {e}"
        ))
    })?;
    let (users, truth): (i64, i64) = conn
        .query_row(
            "select (select count(*) from users), (select count(*) from synthetic_truth              where user_id in (select user_id from users))",
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
fn load_users(conn: &Connection, cfg: &GenerateConfig) -> Result<Vec<User>> {
    let mut stmt = conn
        .prepare(
            "select u.user_id, u.signup_date, u.is_paid, u.country, u.marketing_source,              t.engagement, t.churn_probability, t.churn_date              from users u join synthetic_truth t using (user_id) order by u.user_id",
        )
        .context(|| "generate: reading users".into())?;
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
    rows.into_iter()
        .map(|(user_id, signup, paid, country, source, engagement, churn_probability, churn)| {
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
                signup_day: (signup - cfg.start_date).num_days(),
                signup_date: signup,
                paid,
                country,
                source,
                engagement,
                churn_probability,
                churn_day: churn.map(|d| (d - cfg.start_date).num_days().max(0) as u32),
            })
        })
        .collect()
}

/// Continues the simulation in the file for `n_days` more days: the same
/// users keep their hidden state, new users sign up at the original rate.
pub fn append(
    conn: &Connection,
    scenario: &DriftScenario,
    n_days: u32,
    progress: &indicatif::ProgressBar,
) -> Result<Outcome> {
    if n_days == 0 {
        return Err(Error::Usage("--append-days must be at least 1".into()));
    }
    let (cfg, first_day) = simulation_state(conn)?;
    let days = first_day..first_day + n_days;
    let mut users = load_users(conn, &cfg)?;
    let mut next_index = users.iter().map(|u| u.index + 1).max().unwrap_or(0);
    let n_old = users.len();
    for day in days.clone() {
        let paid_ratio = match scenario.paid_ratio {
            Some(r) if scenario.applies(day) => r,
            _ => cfg.paid_ratio,
        };
        for _ in 0..signups_on(&cfg, day) {
            users.push(draw_user(&cfg, next_index, Some(day), paid_ratio));
            next_index += 1;
        }
    }
    let first_id: i64 = conn
        .query_row("select coalesce(max(event_id), 0) + 1 from events", [], |r| {
            r.get(0)
        })
        .context(|| "generate: reading the last event id".into())?;
    let n_events = simulate(conn, &cfg, scenario, &users, days.clone(), first_id, progress)?;
    insert_users(conn, &users[n_old..], cfg.start_date)?;
    record_simulation(
        conn,
        "append",
        &cfg,
        scenario,
        &days,
        users.len() - n_old,
        n_events,
    )?;
    let (from, to) = (
        day_date(cfg.start_date, i64::from(days.start)),
        day_date(cfg.start_date, i64::from(days.end) - 1),
    );
    Ok(Outcome {
        rows_out: n_events,
        params: serde_json::json!({"append_days": n_days, "from": from, "to": to, "drift": scenario}),
        failure: None,
        summary: format!(
            "appended {n_days} days ({from} to {to}): {n_events} events, {} new users",
            users.len() - n_old
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activity_fades_linearly_to_a_quarter_before_churn() {
        // churn on day 30 with 10 decay days: days 20..=29 fade.
        assert_eq!(activity_factor(19, Some(30), 10), 1.0);
        assert!((activity_factor(20, Some(30), 10) - 0.925).abs() < 1e-12);
        assert!((activity_factor(29, Some(30), 10) - 0.25).abs() < 1e-12);
        assert_eq!(activity_factor(29, None, 10), 1.0);
        assert_eq!(activity_factor(29, Some(30), 0), 1.0);
    }

    #[test]
    fn each_user_draws_from_its_own_stream() {
        let cfg = GenerateConfig::default();
        let a = draw_user(&cfg, 7, None, cfg.paid_ratio);
        let b = draw_user(&cfg, 7, None, cfg.paid_ratio);
        let c = draw_user(&cfg, 8, None, cfg.paid_ratio);
        assert_eq!(a.engagement, b.engagement);
        assert_ne!(a.engagement, c.engagement);
        assert!(a.churn_probability <= 0.95);
    }
}
