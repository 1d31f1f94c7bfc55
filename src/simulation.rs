//! The synthetic world of docs/design.md §2, as pure functions: no DuckDB, no I/O.
//! `stages::generate` writes what this module simulates.
//!
//! The story is a **steady state**, so that stable data looks stable:
//!
//! - Each user has a hidden engagement e ~ Beta(2, 2.5), a plan (paid with
//!   `paid_ratio`), a country and a marketing source.
//! - Churn is a daily hazard h = k · m(e, plan), with
//!   m = plan_factor · (0.4 + 1.4 · (1 − e)^1.6) and plan_factor 0.75 for
//!   paid plans, 1 for free. It never depends on the calendar date or on the
//!   user's tenure. A user who signs up on day s is present on day s and
//!   leaves on day s + G, G ~ Geometric(h) on {1, 2, …}: the churn day, the
//!   first day without any event.
//! - k is chosen so that the mean 30-day churn probability 1 − (1 − h)^30
//!   over the steady-state population is `churn_base_rate`. In the steady
//!   state a type of user is present in proportion to its arrival share
//!   times its mean lifetime 1/h, so engaged users are over-represented
//!   among those present, as in any real customer base.
//! - New users arrive every day, Poisson(λ) a day, with λ = N / E[1/h] over
//!   the arrivals (Little's law): they replace the leavers, so the
//!   population stays near N = `users`.
//! - The N users present on the start date are drawn from that steady state
//!   directly: an endless burn-in computed in closed form, not simulated day
//!   by day and not written. A type is drawn with probability proportional
//!   to its arrival share / h (rejection sampling), its tenure a ≥ 0 with
//!   P(a) ∝ (1 − h)^a (it has survived a days), and its remaining life is
//!   Geometric(h) again (the hazard has no memory). So signup dates reach
//!   back years and `days_since_signup` has the same distribution on every
//!   day.
//! - Each day a user is active with probability 0.15 + 0.8e, fading linearly
//!   to a quarter of that over the `pre_churn_decay_days` before the churn
//!   day; no events from the churn day on. An active day has 1–3 sessions: a
//!   login, then perhaps a video (minutes grow with e), a quiz (score grows
//!   with e), a course enrolment. Any day may bring a support ticket (0.5%).
//! - Paid users pay monthly on their own billing day, the day of the month
//!   they signed up (the month's last day when it is shorter): success 93%.
//! - `[generate.drift]` changes activity, watch minutes and the paid share of
//!   new signups from a given day on; with `churn_driver = "engagement"` the
//!   hazard follows engagement instead of disengagement from that day:
//!   m(1 − e, plan) in place of m(e, plan). Users present on the day draw
//!   their remaining life anew from the new hazard (memoryless, so nothing
//!   else changes), and arrivals from then on are born with it. Its
//!   `pre_churn_decay_days` changes how long activity fades before churn
//!   (0: users leave without warning).
//!
//! Every user draws from its own ChaCha8 stream (seed, user index): its
//! attributes at the start of the stream, each simulated day at a fixed
//! position of it (the day's number). The daily arrival counts have a stream
//! of their own. So the result does not depend on the thread count, and
//! `--append-days` continues a simulation exactly: a day's events depend on
//! (seed, user, day) only.

use std::ops::Range;

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Normal, Poisson};

use crate::config::{ChurnDriver, DriftScenario, GenerateConfig};

pub const COUNTRIES: [&str; 6] = ["IN", "US", "UK", "CA", "AU", "SG"];
pub const SOURCES: [&str; 5] = ["organic", "referral", "ads", "youtube", "community"];
pub const COURSES: [&str; 7] = ["c1", "c2", "c3", "c4", "c5", "c6", "c7"];
pub const SECONDS_PER_DAY: i64 = 86_400;
/// The hazard factor of paid plans against free ones.
const PAID_HAZARD_FACTOR: f64 = 0.75;
/// Points of the quadrature over engagement used to calibrate the hazard.
const QUADRATURE_POINTS: usize = 4000;

/// A user's static attributes and hidden state.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub index: u32,
    pub user_id: String,
    /// Day of the signup, counted from the start date (negative: before it).
    pub signup_day: i64,
    pub paid: bool,
    pub country: &'static str,
    pub source: &'static str,
    pub engagement: f64,
    /// The daily churn hazard h.
    pub daily_hazard: f64,
    /// The churn day (the first day without events), counted from the start
    /// date; None when the world has no churn (`churn_base_rate` = 0).
    pub churn_day: Option<i64>,
}

impl User {
    pub fn id_for(index: u32) -> String {
        format!("u{:06}", index + 1)
    }

    /// The probability of leaving within 30 days: 1 − (1 − h)^30.
    pub fn churn_probability_30d(&self) -> f64 {
        1.0 - (1.0 - self.daily_hazard).powi(30)
    }

    /// Whether the user is present on `day` (signed up, not yet gone).
    pub fn present_on(&self, day: i64) -> bool {
        self.signup_day <= day && self.churn_day.is_none_or(|c| day < c)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Login,
    VideoWatch,
    QuizAttempt,
    CourseEnroll,
    PaymentSuccess,
    PaymentFailed,
    SupportTicket,
}

impl Kind {
    pub fn name(self) -> &'static str {
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

/// One event of a day, before it gets its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Seconds after midnight.
    pub second: i64,
    pub kind: Kind,
    pub course: Option<&'static str>,
    pub watch_minutes: Option<f64>,
    pub quiz_score: Option<f64>,
    pub amount: Option<f64>,
}

impl Event {
    fn bare(second: i64, kind: Kind) -> Event {
        Event {
            second,
            kind,
            course: None,
            watch_minutes: None,
            quiz_score: None,
            amount: None,
        }
    }
}

/// The hazard multiplier m(e, plan) of a user type.
pub fn hazard_multiplier(engagement: f64, paid: bool) -> f64 {
    let plan = if paid { PAID_HAZARD_FACTOR } else { 1.0 };
    plan * (0.4 + 1.4 * (1.0 - engagement).powf(1.6))
}

/// Activity multiplier on `day`: 1, falling linearly to 0.25 on the last day
/// before the churn day over the `decay_days` days before it.
pub fn activity_factor(day: i64, churn_day: Option<i64>, decay_days: u32) -> f64 {
    let decay = i64::from(decay_days);
    match churn_day {
        Some(c) if decay > 0 && day < c && day + decay >= c => {
            let step = (day + decay + 1 - c) as f64; // 1..=decay_days
            1.0 - 0.75 * step / decay as f64
        }
        _ => 1.0,
    }
}

/// The calibrated world: the hazard scale k and the daily arrival rate λ.
#[derive(Debug, Clone)]
pub struct World {
    pub cfg: GenerateConfig,
    /// k in h = k · m(e, plan).
    pub hazard_scale: f64,
    /// λ, new users a day.
    pub arrival_rate: f64,
}

/// The arrival distribution of user types on a grid: (engagement, paid,
/// weight), weights summing to 1.
fn type_grid(paid_ratio: f64) -> Vec<(f64, bool, f64)> {
    let n = QUADRATURE_POINTS;
    let density = |e: f64| e * (1.0 - e).powf(1.5); // Beta(2, 2.5), unnormalized
    let points: Vec<(f64, f64)> = (0..n)
        .map(|i| {
            let e = (i as f64 + 0.5) / n as f64;
            (e, density(e))
        })
        .collect();
    let total: f64 = points.iter().map(|(_, d)| d).sum();
    let mut grid = Vec::with_capacity(2 * n);
    for (paid, share) in [(true, paid_ratio), (false, 1.0 - paid_ratio)] {
        if share > 0.0 {
            grid.extend(points.iter().map(|&(e, d)| (e, paid, share * d / total)));
        }
    }
    grid
}

fn hazard(scale: f64, engagement: f64, paid: bool) -> f64 {
    (scale * hazard_multiplier(engagement, paid)).min(1.0)
}

/// The mean 30-day churn probability over the steady-state population for
/// hazard scale `k`: Σ w·q30/h / Σ w/h.
fn population_churn_rate(grid: &[(f64, bool, f64)], k: f64) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for &(e, paid, w) in grid {
        let h = hazard(k, e, paid);
        let q30 = 1.0 - (1.0 - h).powi(30);
        num += w * q30 / h;
        den += w / h;
    }
    num / den
}

impl World {
    /// Calibrates the hazard scale and the arrival rate for `cfg`.
    pub fn new(cfg: &GenerateConfig) -> World {
        let rate = cfg.churn_base_rate;
        if rate <= 0.0 {
            return World {
                cfg: cfg.clone(),
                hazard_scale: 0.0,
                arrival_rate: 0.0,
            };
        }
        let grid = type_grid(cfg.paid_ratio);
        // The rate rises with k from 0 to 1 (every h = 1 at k = 1 / m_min):
        // bisection.
        let (mut lo, mut hi) = (0.0f64, 1.0 / hazard_multiplier(1.0, true));
        for _ in 0..200 {
            let mid = 0.5 * (lo + hi);
            if population_churn_rate(&grid, mid) < rate {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let k = 0.5 * (lo + hi);
        let mean_lifetime: f64 = grid.iter().map(|&(e, paid, w)| w / hazard(k, e, paid)).sum();
        World {
            cfg: cfg.clone(),
            hazard_scale: k,
            arrival_rate: f64::from(cfg.users) / mean_lifetime,
        }
    }

    /// The daily churn hazard of a user type, before any drift scenario.
    pub fn daily_hazard(&self, engagement: f64, paid: bool) -> f64 {
        hazard(self.hazard_scale, engagement, paid)
    }

    /// The N users present on the start date, drawn from the steady state.
    pub fn initial_population(&self) -> Vec<User> {
        (0..self.cfg.users).map(|i| self.draw_present(i)).collect()
    }

    /// A user present on day 0 of a steady state: type ∝ arrival share / h,
    /// tenure ∝ (1 − h)^a, remaining life Geometric(h).
    fn draw_present(&self, index: u32) -> User {
        let rng = &mut user_rng(self.cfg.seed, index);
        let h_min = self.daily_hazard(1.0, true).max(f64::MIN_POSITIVE);
        let (engagement, paid) = loop {
            let e = draw_engagement(rng);
            let paid = rng.random::<f64>() < self.cfg.paid_ratio;
            let h = self.daily_hazard(e, paid);
            if h <= 0.0 || rng.random::<f64>() < h_min / h {
                break (e, paid);
            }
        };
        let country = COUNTRIES[rng.random_range(0..COUNTRIES.len())];
        let source = SOURCES[rng.random_range(0..SOURCES.len())];
        let h = self.daily_hazard(engagement, paid);
        let tenure = if h > 0.0 {
            geometric_failures(rng, h)
        } else {
            // A world without churn: tenures spread over a year.
            rng.random_range(0..365)
        };
        let churn_day = (h > 0.0).then(|| 1 + geometric_failures(rng, h));
        User {
            index,
            user_id: User::id_for(index),
            signup_day: -tenure,
            paid,
            country,
            source,
            engagement,
            daily_hazard: h,
            churn_day,
        }
    }

    /// The hazard of a user under `driver`.
    fn driven_hazard(&self, engagement: f64, paid: bool, driver: ChurnDriver) -> f64 {
        match driver {
            ChurnDriver::Disengagement => self.daily_hazard(engagement, paid),
            ChurnDriver::Engagement => self.daily_hazard(1.0 - engagement, paid),
        }
    }

    /// A user signing up on `day`, with the paid share `paid_ratio`.
    fn draw_arrival(&self, index: u32, day: i64, paid_ratio: f64, driver: ChurnDriver) -> User {
        let rng = &mut user_rng(self.cfg.seed, index);
        let engagement = draw_engagement(rng);
        let paid = rng.random::<f64>() < paid_ratio;
        let country = COUNTRIES[rng.random_range(0..COUNTRIES.len())];
        let source = SOURCES[rng.random_range(0..SOURCES.len())];
        let h = self.driven_hazard(engagement, paid, driver);
        let churn_day = (h > 0.0).then(|| day + 1 + geometric_failures(rng, h));
        User {
            index,
            user_id: User::id_for(index),
            signup_day: day,
            paid,
            country,
            source,
            engagement,
            daily_hazard: h,
            churn_day,
        }
    }

    /// How many users sign up on `day`.
    pub fn signups_on(&self, day: u32) -> u32 {
        if self.arrival_rate <= 0.0 {
            return 0;
        }
        let mut rng = stream_rng(
            self.cfg.seed,
            SIGNUP_STREAM,
            (u128::from(day) + 1) << DAY_WORDS_SHIFT,
        );
        Poisson::new(self.arrival_rate).map_or(0, |p| p.sample(&mut rng) as u32)
    }

    /// The users signing up on `days`, indexed from `next_index` in day order.
    pub fn arrivals(&self, days: Range<u32>, next_index: u32, scenario: &DriftScenario) -> Vec<User> {
        let mut users = Vec::new();
        let mut index = next_index;
        for day in days {
            let (paid_ratio, driver) = if scenario.applies(day) {
                (
                    scenario.paid_ratio.unwrap_or(self.cfg.paid_ratio),
                    scenario.churn_driver,
                )
            } else {
                (self.cfg.paid_ratio, ChurnDriver::Disengagement)
            };
            for _ in 0..self.signups_on(day) {
                users.push(self.draw_arrival(index, i64::from(day), paid_ratio, driver));
                index += 1;
            }
        }
        users
    }

    /// Switches the churn driver of the users present on the scenario's
    /// `start_day`, when it switches and the day lies in `days`: each draws
    /// a new hazard and its remaining life from it. Returns how many users
    /// changed.
    pub fn switch_churn_driver(
        &self,
        scenario: &DriftScenario,
        days: Range<u32>,
        users: &mut [User],
    ) -> usize {
        let day = scenario.start_day;
        if !scenario.switches_churn_driver() || !days.contains(&day) {
            return 0;
        }
        let d = i64::from(day);
        let mut changed = 0;
        // Arrivals of the day are born with the new driver; the start
        // population (which may have signed up on day 0) is not.
        let born_before = |u: &User| u.signup_day < d || u.index < self.cfg.users;
        for u in users.iter_mut().filter(|u| u.present_on(d) && born_before(u)) {
            let h = self.driven_hazard(u.engagement, u.paid, scenario.churn_driver);
            let rng = &mut stream_rng(self.cfg.seed, u64::from(u.index), REGIME_AT + u128::from(day));
            u.daily_hazard = h;
            u.churn_day = (h > 0.0).then(|| d + 1 + geometric_failures(rng, h));
            changed += 1;
        }
        changed
    }

    /// The date of `day`.
    pub fn date(&self, day: i64) -> NaiveDate {
        self.cfg.start_date + chrono::Duration::days(day)
    }

    /// Simulates `user` over `days`, handing each day's events, in time
    /// order, to `out` with the day's number.
    pub fn simulate_user(
        &self,
        scenario: &DriftScenario,
        user: &User,
        days: Range<u32>,
        out: &mut impl FnMut(u32, &Event),
    ) {
        let e = user.engagement;
        let billing_day = self.date(user.signup_day).day();
        let mut events: Vec<Event> = Vec::new();
        for day in days {
            let d = i64::from(day);
            if user.churn_day.is_some_and(|c| d >= c) {
                break;
            }
            if d < user.signup_day {
                continue;
            }
            let drifted = scenario.applies(day);
            let rng = &mut day_rng(self.cfg.seed, user.index, day);
            let date = self.date(d);
            events.clear();

            if user.paid && bills_on(billing_day, date) {
                let success = rng.random::<f64>() < 0.93;
                let amount = clipped_normal(rng, 499.0, 80.0, 199.0, 999.0);
                events.push(Event {
                    amount: Some((amount * 100.0).round() / 100.0),
                    ..Event::bare(
                        rng.random_range(0..SECONDS_PER_DAY),
                        if success {
                            Kind::PaymentSuccess
                        } else {
                            Kind::PaymentFailed
                        },
                    )
                });
            }

            if rng.random::<f64>() < self.sessions(scenario, e, day).probability(user.churn_day) {
                let sessions = rng.random_range(1..=3);
                for _ in 0..sessions {
                    // A session starts before 23:00 and its events follow within the hour.
                    let start = rng.random_range(0..SECONDS_PER_DAY - 3600);
                    let mut at = start;
                    let mut next = |rng: &mut ChaCha8Rng| {
                        at += rng.random_range(30..600);
                        at
                    };
                    events.push(Event::bare(start, Kind::Login));
                    if rng.random::<f64>() < 0.5 + 0.4 * e {
                        let mut minutes = clipped_normal(rng, 20.0 + 40.0 * e, 10.0, 2.0, 180.0);
                        if drifted {
                            minutes = (minutes * scenario.watch_minutes_multiplier).clamp(2.0, 180.0);
                        }
                        events.push(Event {
                            course: Some(COURSES[rng.random_range(0..COURSES.len())]),
                            watch_minutes: Some((minutes * 10.0).round() / 10.0),
                            ..Event::bare(next(rng), Kind::VideoWatch)
                        });
                    }
                    if rng.random::<f64>() < 0.25 + 0.35 * e {
                        let score = clipped_normal(rng, 50.0 + 40.0 * e, 15.0, 0.0, 100.0);
                        events.push(Event {
                            course: Some(COURSES[rng.random_range(0..COURSES.len())]),
                            quiz_score: Some(score.round()),
                            ..Event::bare(next(rng), Kind::QuizAttempt)
                        });
                    }
                    if rng.random::<f64>() < 0.05 {
                        events.push(Event {
                            course: Some(COURSES[rng.random_range(0..COURSES.len())]),
                            ..Event::bare(next(rng), Kind::CourseEnroll)
                        });
                    }
                }
            }

            if rng.random::<f64>() < SUPPORT_TICKET_RATE {
                events.push(Event::bare(
                    rng.random_range(0..SECONDS_PER_DAY),
                    Kind::SupportTicket,
                ));
            }

            events.sort_by_key(|ev| ev.second);
            for ev in &events {
                out(day, ev);
            }
        }
    }
}

/// The probability of a support ticket on any day a user is present.
pub const SUPPORT_TICKET_RATE: f64 = 0.005;

/// Whether a paid user whose billing day of the month is `billing_day` (the
/// day of the month they signed up) pays on `date`: that day, or the
/// month's last day when the month is shorter.
pub fn bills_on(billing_day: u32, date: NaiveDate) -> bool {
    date.day() == billing_day.min(days_in_month(date))
}

/// What decides a user's sessions on one day, apart from the churn day:
/// 0.15 + 0.8e, faded over `decay_days` before the churn day, times the
/// drift scenario's multiplier from its start day on (at most 1).
#[derive(Debug, Clone, Copy)]
pub struct Sessions {
    day: i64,
    base: f64,
    decay_days: u32,
    multiplier: Option<f64>,
}

impl Sessions {
    /// The probability of a session on the day (a day before the churn day)
    /// when the churn day is `churn_day`.
    pub fn probability(&self, churn_day: Option<i64>) -> f64 {
        let p = self.base * activity_factor(self.day, churn_day, self.decay_days);
        match self.multiplier {
            Some(m) => (p * m).min(1.0),
            None => p,
        }
    }
}

/// What decides whether a user has an event of any kind on one day (an
/// active day of `user_daily`), apart from the churn day.
#[derive(Debug, Clone, Copy)]
pub struct ActiveDay {
    signed_up: bool,
    /// A paid user's billing day: a payment, successful or not.
    billed: bool,
    sessions: Sessions,
}

/// P(an event on a day that is not a billing day), given its probability
/// of a session: a session or a support ticket.
pub fn event_probability(session: f64) -> f64 {
    1.0 - (1.0 - session) * (1.0 - SUPPORT_TICKET_RATE)
}

/// A day's probability of a session before any fade or drift: 0.15 + 0.8e.
pub fn session_base(engagement: f64) -> f64 {
    0.15 + 0.8 * engagement
}

impl ActiveDay {
    /// A paid user's billing day: an event is certain before the churn day.
    pub fn billed(&self) -> bool {
        self.billed
    }

    /// The same day's rule for a user of another engagement.
    pub fn with_engagement(self, engagement: f64) -> ActiveDay {
        ActiveDay {
            sessions: Sessions {
                base: session_base(engagement),
                ..self.sessions
            },
            ..self
        }
    }

    /// P(an event on the day | churn day `churn_day`): 0 before the signup
    /// and from the churn day on, 1 on a billing day, else a session or a
    /// support ticket.
    pub fn probability(&self, churn_day: Option<i64>) -> f64 {
        if !self.signed_up || churn_day.is_some_and(|c| self.sessions.day >= c) {
            0.0
        } else if self.billed {
            1.0
        } else {
            event_probability(self.sessions.probability(churn_day))
        }
    }
}

impl World {
    /// The rule of a user's sessions on `day`.
    pub fn sessions(&self, scenario: &DriftScenario, engagement: f64, day: u32) -> Sessions {
        let drifted = scenario.applies(day);
        Sessions {
            day: i64::from(day),
            base: session_base(engagement),
            decay_days: match scenario.pre_churn_decay_days {
                Some(days) if drifted => days,
                _ => self.cfg.pre_churn_decay_days,
            },
            multiplier: drifted.then_some(scenario.activity_multiplier),
        }
    }

    /// The rule of `user`'s activity on `day`.
    pub fn active_day(&self, scenario: &DriftScenario, user: &User, day: u32) -> ActiveDay {
        let d = i64::from(day);
        ActiveDay {
            signed_up: d >= user.signup_day,
            billed: user.paid && bills_on(self.date(user.signup_day).day(), self.date(d)),
            sessions: self.sessions(scenario, user.engagement, day),
        }
    }
}

fn draw_engagement(rng: &mut ChaCha8Rng) -> f64 {
    Beta::new(2.0, 2.5).expect("valid beta").sample(rng)
}

/// The number of failures before the first success of a Bernoulli(p) trial
/// sequence: P(a) = p·(1 − p)^a on {0, 1, …}.
fn geometric_failures(rng: &mut ChaCha8Rng, p: f64) -> i64 {
    if p >= 1.0 {
        return 0;
    }
    // 1 − U lies in (0, 1]: its logarithm is finite.
    let u: f64 = 1.0 - rng.random::<f64>();
    (u.ln() / (1.0 - p).ln()).floor().min(1e12) as i64
}

fn days_in_month(date: NaiveDate) -> u32 {
    let (y, m) = (date.year(), date.month());
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    };
    next.map_or(31, |n| n.pred_opt().map_or(31, |d| d.day()))
}

fn clipped_normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64, lo: f64, hi: f64) -> f64 {
    Normal::new(mean, sd)
        .expect("valid normal")
        .sample(rng)
        .clamp(lo, hi)
}

/// Words of a user's stream reserved for one day (far more than a day draws).
const DAY_WORDS_SHIFT: u32 = 16;
/// Where the draws of a user's stream for a change of churn driver begin
/// (far past any day's words).
const REGIME_AT: u128 = 1 << 60;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn world(users: u32) -> World {
        World::new(&GenerateConfig {
            users,
            ..GenerateConfig::default()
        })
    }

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
    fn the_hazard_is_calibrated_to_the_base_rate() {
        let w = world(2000);
        let grid = type_grid(w.cfg.paid_ratio);
        let rate = population_churn_rate(&grid, w.hazard_scale);
        assert!((rate - 0.05).abs() < 1e-9, "{rate}");
        // Little's law: λ · E[1/h] over arrivals = N.
        let lifetime: f64 = grid
            .iter()
            .map(|&(e, p, wt)| wt / hazard(w.hazard_scale, e, p))
            .sum();
        assert!((w.arrival_rate * lifetime - 2000.0).abs() < 1e-6);
    }

    #[test]
    fn the_present_population_has_the_base_rate_and_a_steady_tenure_mix() {
        // Sampled users: the mean 30-day churn probability is the base rate
        // (within sampling error), and every user is present on day 0.
        let w = world(20_000);
        let users = w.initial_population();
        let mean: f64 = users.iter().map(User::churn_probability_30d).sum::<f64>() / users.len() as f64;
        assert!((mean - 0.05).abs() < 0.002, "mean 30-day churn {mean}");
        assert!(users.iter().all(|u| u.present_on(0)));
        // Tenure given the type is Geometric(h): mean (1 − h)/h. Checked on
        // the mean of h·tenure / (1 − h), which is 1 for every type.
        let ratio: f64 = users
            .iter()
            .map(|u| u.daily_hazard * (-u.signup_day) as f64 / (1.0 - u.daily_hazard))
            .sum::<f64>()
            / users.len() as f64;
        assert!((ratio - 1.0).abs() < 0.03, "h·tenure/(1-h) averages {ratio}");
    }

    #[test]
    fn population_and_churn_are_stationary() {
        // Present users on each day of a year stay within ±5% of N, and each
        // quarter loses about the same share.
        let w = world(5000);
        let mut users = w.initial_population();
        users.extend(w.arrivals(0..365, 5000, &DriftScenario::default()));
        for day in (0..365).step_by(30) {
            let present = users.iter().filter(|u| u.present_on(day)).count() as f64;
            assert!(
                (present / 5000.0 - 1.0).abs() < 0.05,
                "day {day}: {present} present"
            );
        }
        let left = |from: i64| {
            let present: Vec<&User> = users.iter().filter(|u| u.present_on(from)).collect();
            present
                .iter()
                .filter(|u| u.churn_day.is_some_and(|c| c <= from + 30))
                .count() as f64
                / present.len() as f64
        };
        for from in [0, 120, 300] {
            let rate = left(from);
            assert!(
                (rate - 0.05).abs() < 0.012,
                "30-day churn from day {from}: {rate}"
            );
        }
    }

    #[test]
    fn each_user_draws_from_its_own_stream() {
        let w = world(100);
        assert_eq!(w.draw_present(7), w.draw_present(7));
        assert_ne!(w.draw_present(7).engagement, w.draw_present(8).engagement);
        let a = w.arrivals(10..20, 100, &DriftScenario::default());
        assert_eq!(a, w.arrivals(10..20, 100, &DriftScenario::default()));
        // Days in two calls, the same users.
        let mut b = w.arrivals(10..15, 100, &DriftScenario::default());
        b.extend(w.arrivals(15..20, 100 + b.len() as u32, &DriftScenario::default()));
        assert_eq!(a, b);
    }

    #[test]
    fn paid_users_pay_on_their_billing_day_and_nobody_acts_after_churning() {
        let w = world(300);
        let users = w.initial_population();
        let mut days_seen = 0;
        for u in &users {
            let billing = w.date(u.signup_day).day();
            w.simulate_user(&DriftScenario::default(), u, 0..120, &mut |day, ev| {
                let d = i64::from(day);
                assert!(u.churn_day.is_none_or(|c| d < c), "{} acts on day {d}", u.user_id);
                if matches!(ev.kind, Kind::PaymentSuccess | Kind::PaymentFailed) {
                    assert!(u.paid);
                    let date = w.date(d);
                    assert_eq!(date.day(), billing.min(days_in_month(date)));
                }
                days_seen += 1;
            });
        }
        assert!(days_seen > 300 * 30);
    }

    #[test]
    fn a_new_churn_driver_makes_the_engaged_leave() {
        // Before day 60 the less engaged leave more; after the switch the
        // more engaged do, among those present and among arrivals.
        let w = world(20_000);
        let scenario = DriftScenario {
            start_day: 60,
            churn_driver: ChurnDriver::Engagement,
            ..DriftScenario::default()
        };
        let mut users = w.initial_population();
        users.extend(w.arrivals(1..120, 20_000, &scenario));
        let changed = w.switch_churn_driver(&scenario, 0..120, &mut users);
        assert!(changed > 15_000, "{changed}");
        // Nothing changes when the day lies outside the simulated range.
        let mut again = users.clone();
        assert_eq!(w.switch_churn_driver(&scenario, 120..200, &mut again), 0);
        assert_eq!(again, users);
        let mean_engagement_of_leavers = |from: i64, to: i64| {
            let leavers: Vec<f64> = users
                .iter()
                .filter(|u| u.churn_day.is_some_and(|c| c >= from && c < to))
                .map(|u| u.engagement)
                .collect();
            leavers.iter().sum::<f64>() / leavers.len() as f64
        };
        let (before, after) = (
            mean_engagement_of_leavers(1, 60),
            mean_engagement_of_leavers(61, 120),
        );
        assert!(after > before + 0.1, "leavers' engagement {before} -> {after}");
        // Users present on the day keep their past: signup and any earlier
        // churn day are untouched, and nobody leaves before the switch.
        assert!(users.iter().all(|u| u.churn_day.is_none_or(|c| c > 0)));
    }

    #[test]
    fn billing_on_the_31st_falls_on_a_short_months_last_day() {
        let d = NaiveDate::from_ymd_opt(2026, 2, 10).unwrap();
        assert_eq!(days_in_month(d), 28);
        assert_eq!(days_in_month(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()), 31);
        assert_eq!(31u32.min(days_in_month(d)), 28);
    }
}
