//! generate: the synthetic population of DESIGN §2, written with DuckDB's
//! Appender (Arrow record batches) into `users`, `events`, `synthetic_truth`.
//!
//! Every user draws from its own ChaCha8 stream (seed, user index), so the
//! output is identical for the same config whatever the thread count, and
//! users are generated in parallel and appended in index order.

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
use rand_distr::{Beta, Distribution, Normal};

use crate::config::GenerateConfig;
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
    user_id: String,
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
fn draw_user(cfg: &GenerateConfig, index: u32, rng: &mut ChaCha8Rng) -> User {
    let engagement: f64 = Beta::new(2.0, 2.5).expect("valid beta").sample(rng);
    let max_before = (cfg.days / 3).max(30);
    let before = rng.random_range(0..=max_before);
    let signup_date = cfg.start_date - Days::new(u64::from(before));
    let paid = rng.random::<f64>() < cfg.paid_ratio;
    let country = COUNTRIES[rng.random_range(0..COUNTRIES.len())];
    let source = SOURCES[rng.random_range(0..SOURCES.len())];
    let plan_factor = if paid { 0.75 } else { 1.0 };
    let churn_probability =
        (cfg.churn_base_rate * plan_factor * (0.4 + 1.4 * (1.0 - engagement).powf(1.6))).min(0.95);
    let churns = rng.random::<f64>() < churn_probability;
    let churn_day = churns.then(|| rng.random_range(cfg.days / 4..cfg.days));
    User {
        user_id: format!("u{:06}", index + 1),
        signup_date,
        paid,
        country,
        source,
        engagement,
        churn_probability,
        churn_day,
    }
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

/// Simulates one user's days into the chunk.
fn simulate_user(cfg: &GenerateConfig, user: &User, rng: &mut ChaCha8Rng, out: &mut Chunk) {
    let e = user.engagement;
    let base_active = 0.15 + 0.8 * e;
    let mut month = None;
    let mut pay_day = 0;
    let mut day_events: Vec<Event> = Vec::new();
    for day in 0..cfg.days {
        if user.churn_day.is_some_and(|c| day >= c) {
            break;
        }
        let date = cfg.start_date + Days::new(u64::from(day));
        day_events.clear();

        if user.paid {
            let key = (date.year(), date.month());
            if month != Some(key) {
                month = Some(key);
                pay_day = rng.random_range(1..=3);
            }
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

        let p_active = base_active * activity_factor(day, user.churn_day, cfg.pre_churn_decay_days);
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
                    let minutes = clipped_normal(rng, 20.0 + 40.0 * e, 10.0, 2.0, 180.0);
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

fn user_rng(seed: u64, index: u32) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(u64::from(index));
    rng
}

fn build_chunk(cfg: &GenerateConfig, chunk_index: usize) -> Chunk {
    let first = chunk_index * USERS_PER_CHUNK;
    let last = (first + USERS_PER_CHUNK).min(cfg.users as usize);
    let mut chunk = Chunk::new();
    for index in first as u32..last as u32 {
        let mut rng = user_rng(cfg.seed, index);
        let user = draw_user(cfg, index, &mut rng);
        simulate_user(cfg, &user, &mut rng, &mut chunk);
        chunk.users.push(user);
    }
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

/// Replaces `users`, `events` and `synthetic_truth` with a fresh simulation.
pub fn run(conn: &Connection, cfg: &GenerateConfig, progress: &indicatif::ProgressBar) -> Result<Outcome> {
    for table in ["events", "users", "synthetic_truth"] {
        conn.execute_batch(&format!("delete from {table}"))
            .context(|| format!("generate: clearing {table}"))?;
    }
    let n_chunks = (cfg.users as usize).div_ceil(USERS_PER_CHUNK);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(n_chunks)
        .max(1);
    let next = AtomicUsize::new(0);
    let mut users: Vec<User> = Vec::with_capacity(cfg.users as usize);
    let mut n_events: i64 = 0;
    progress.set_length(u64::from(cfg.users));

    let result: Result<()> = std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel::<(usize, Chunk)>();
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n_chunks {
                        break;
                    }
                    if tx.send((i, build_chunk(cfg, i))).is_err() {
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
                let batch = chunk.events_batch(n_events + 1)?;
                appender
                    .append_record_batch(batch)
                    .context(|| "generate: appending events".into())?;
                n_events += chunk.n_events as i64;
                progress.inc(chunk.users.len() as u64);
                users.append(&mut chunk.users);
                want += 1;
            }
        }
        appender.flush().context(|| "generate: flushing events".into())?;
        Ok(())
    });
    result?;

    let (users_batch, truth_batch) = users_batches(&users, cfg.start_date)?;
    let mut appender = conn
        .appender("users")
        .context(|| "generate: opening the users appender".into())?;
    appender
        .append_record_batch(users_batch)
        .context(|| "generate: appending users".into())?;
    appender.flush().context(|| "generate: flushing users".into())?;
    let mut appender = conn
        .appender("synthetic_truth")
        .context(|| "generate: opening the synthetic_truth appender".into())?;
    appender
        .append_record_batch(truth_batch)
        .context(|| "generate: appending synthetic_truth".into())?;
    appender
        .flush()
        .context(|| "generate: flushing synthetic_truth".into())?;
    progress.finish_and_clear();

    Ok(Outcome {
        rows_out: n_events,
        params: serde_json::to_value(cfg).unwrap_or_default(),
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
        let a = draw_user(&cfg, 7, &mut user_rng(cfg.seed, 7));
        let b = draw_user(&cfg, 7, &mut user_rng(cfg.seed, 7));
        let c = draw_user(&cfg, 8, &mut user_rng(cfg.seed, 8));
        assert_eq!(a.engagement, b.engagement);
        assert_ne!(a.engagement, c.engagement);
        assert!(a.churn_probability <= 0.95);
    }
}
