//! The Bayes oracle of the synthetic world: the exact probability of the
//! churn label under the simulator's own rules (`src/simulation.rs`), given
//! a user's hidden state and their activity up to the as-of day. No model
//! that sees only the events can rank or calibrate better, so its PR-AUC on
//! the test rows is the ceiling the model card measures against
//! (docs/design.md §3). Pure: no DuckDB, no I/O.
//!
//! What the oracle knows about a user: engagement, plan, signup day, the
//! daily hazard h, and whether and when they left, up to the as-of day d.
//! A user who left on or before d (churn day C ≤ d) has no event after it:
//! the label is 1. A user still present has C = d + g with g ≥ 1 drawn from
//! Geometric(h) (the hazard has no memory), and the rest is Bayes' rule:
//!
//! - the prior P(g) = h (1 − h)^(g − 1);
//! - the likelihood of the observed active days up to d: activity fades over
//!   the `pre_churn_decay_days` before C, so the days of (d − fade, d] say
//!   how near C is (an earlier day is not faded by any C > d);
//! - P(label = 1 | C) = ∏ over the look-ahead days t of (d + H, d + H + I]
//!   before C of (1 − P(active on t | C)), and 1 when C ≤ d + H + 1.
//!
//! Every C past d + H + I + fade leaves the observed days and the look-ahead
//! unfaded: that tail, of prior mass (1 − h)^G, is summed in closed form.
//!
//! Exact when the hazard recorded in `synthetic_truth` held on every day
//! involved: a drift scenario that switches the churn driver redraws the
//! hazard of the users present on its start day, and an as-of day before the
//! switch is then scored with the new hazard.

use crate::config::DriftScenario;
use crate::simulation::{ActiveDay, User, World, event_probability};

/// The label's look-ahead: churn_label = 1 when no active day falls in
/// (d + horizon_days, d + horizon_days + inactive_days].
#[derive(Debug, Clone, Copy)]
pub struct LookAhead {
    pub horizon_days: u32,
    pub inactive_days: u32,
}

/// The days the oracle reads, with their rules: the observed days from
/// `first_seen` to the as-of day (and whether each was active), and the
/// look-ahead's days from `first_ahead`.
struct Window {
    observed: Vec<(Option<ActiveDay>, bool)>,
    ahead: Vec<Option<ActiveDay>>,
    first_seen: i64,
    first_ahead: i64,
}

impl Window {
    /// The same days for a user of another engagement.
    fn set_engagement(&mut self, e: f64) {
        for (rule, _) in &mut self.observed {
            *rule = rule.map(|r| r.with_engagement(e));
        }
        for rule in &mut self.ahead {
            *rule = rule.map(|r| r.with_engagement(e));
        }
    }
}

/// The oracle of one simulated world.
pub struct Oracle<'a> {
    pub world: &'a World,
    pub scenario: &'a DriftScenario,
    pub look_ahead: LookAhead,
}

impl Oracle<'_> {
    /// The longest fade before a churn day, over the world and its scenario.
    pub fn fade_days(&self) -> i64 {
        i64::from(
            self.world
                .cfg
                .pre_churn_decay_days
                .max(self.scenario.pre_churn_decay_days.unwrap_or(0)),
        )
    }

    /// P(churn_label = 1 | `user`'s hidden state, activity up to `as_of`).
    /// `active(t)` says whether day t ≤ `as_of` was an active day; it is
    /// asked only for the days a churn day could have faded. The user's
    /// `churn_day` is read only when it is on or before `as_of`.
    pub fn label_probability(&self, user: &User, as_of: i64, active: impl Fn(i64) -> bool) -> f64 {
        if user.churn_day.is_some_and(|c| c <= as_of) {
            return 1.0;
        }
        self.posterior(user, as_of, 0, active)
    }

    /// P(churn_label = 1 | engagement, plan and hazard, activity up to
    /// `as_of`), not told whether the user has already left: the churn day
    /// may also be any of the `back` days up to `as_of`, weighed by its
    /// prior and by the silence it implies (no event from it on). This is
    /// the ceiling of a model that sees events only, less what the events
    /// say about engagement and plan: tighter than `label_probability`,
    /// which knows who has left. Exact when the user had an active day in
    /// the `back` days (the population of `labels.recent_days`); `user.churn_day`
    /// is never read. `active(t)` is asked for the `back + fade` days up to
    /// `as_of`.
    pub fn label_probability_unseen_churn(
        &self,
        user: &User,
        as_of: i64,
        back: i64,
        active: impl Fn(i64) -> bool,
    ) -> f64 {
        self.posterior(user, as_of, back.max(0), active)
    }

    /// The posterior of the label over the churn day C, with C > as_of −
    /// `back` (and after the signup: C > max(signup, 0), the first day
    /// the simulation writes).
    fn posterior(&self, user: &User, as_of: i64, back: i64, active: impl Fn(i64) -> bool) -> f64 {
        let j = self.joint(user, as_of, back, active);
        if j.denominator > 0.0 {
            j.numerator / j.denominator
        } else {
            // Nothing observed is possible under the prior (a rounding to
            // 0): the look-ahead's odds of a user who stays.
            j.stays
        }
    }

    /// P(label = 1, the days observed in the window) and P(the days
    /// observed in the window), the window being the `back + fade` days up
    /// to `as_of`, over the churn day C > max(as_of − `back`, signup, 0)
    /// drawn from its prior given C > max(signup, 0).
    fn joint(&self, user: &User, as_of: i64, back: i64, active: impl Fn(i64) -> bool) -> Joint {
        let window = self.window(user, as_of, back, active);
        self.joint_on(&window, user, as_of, back)
    }

    /// The rules of the days the oracle reads: the window's observed days
    /// and the look-ahead's.
    fn window(&self, user: &User, as_of: i64, back: i64, active: impl Fn(i64) -> bool) -> Window {
        let horizon = i64::from(self.look_ahead.horizon_days);
        let inactive = i64::from(self.look_ahead.inactive_days);
        let rule = |t: i64| {
            u32::try_from(t)
                .ok()
                .map(|t| self.world.active_day(self.scenario, user, t))
        };
        let first_seen = self.window_start(as_of, back).max(user.signup_day).max(0);
        let first_ahead = as_of + horizon + 1;
        Window {
            observed: (first_seen..=as_of).map(|t| (rule(t), active(t))).collect(),
            ahead: (first_ahead..=(as_of + horizon + inactive)).map(rule).collect(),
            first_seen,
            first_ahead,
        }
    }

    /// `joint` on the rules of `window`, with `user`'s hazard and signup.
    fn joint_on(&self, window: &Window, user: &User, as_of: i64, back: i64) -> Joint {
        let (horizon, inactive) = (
            i64::from(self.look_ahead.horizon_days),
            i64::from(self.look_ahead.inactive_days),
        );
        let fade = self.fade_days();
        let (observed, ahead) = (&window.observed, &window.ahead);
        let (first_seen, first_ahead) = (window.first_seen, window.first_ahead);
        // A day's probability of an event when the churn day is c (None:
        // no churn day fades it).
        let p = |rule: &Option<ActiveDay>, c: Option<i64>| rule.map_or(0.0, |r| r.probability(c));
        // A day's factor in the likelihood and in P(label = 1), given its
        // probability of an event.
        let seen = |p: f64, a: bool| if a { p } else { 1.0 - p };
        // Products of the unfaded factors, prefix by prefix: a churn day c
        // fades only the days from c − fade on, so each c multiplies the
        // unfaded prefix by at most `fade` faded factors (the days from c on
        // have no event: a factor 1 in P(label = 1), and none is observed).
        let prefix = |factors: &mut dyn Iterator<Item = f64>| {
            let mut out = Vec::with_capacity(32);
            out.push(1.0);
            for f in factors {
                out.push(out[out.len() - 1] * f);
            }
            out
        };
        let observed_prefix = prefix(&mut observed.iter().map(|(r, a)| seen(p(r, None), *a)));
        let ahead_prefix = prefix(&mut ahead.iter().map(|r| 1.0 - p(r, None)));
        // How many of `n` days from `first` lie before day `t`.
        let before = |first: i64, n: usize, t: i64| (t - first).clamp(0, n as i64) as usize;
        let likelihood = |c: i64| -> f64 {
            let k = before(first_seen, observed.len(), c - fade);
            observed[k..]
                .iter()
                .fold(observed_prefix[k], |acc, (r, a)| acc * seen(p(r, Some(c)), *a))
        };
        let label_given = |c: i64| -> f64 {
            let end = before(first_ahead, ahead.len(), c);
            let k = before(first_ahead, end, c - fade);
            ahead[k..end]
                .iter()
                .fold(ahead_prefix[k], |acc, r| acc * (1.0 - p(r, Some(c))))
        };
        let h = user.daily_hazard;
        // No churn ahead (h = 0), or the unfaded tail: C beyond every day
        // the fade could reach.
        let (tail_likelihood, tail_label) = (observed_prefix[observed.len()], ahead_prefix[ahead.len()]);
        if h <= 0.0 {
            return Joint {
                numerator: tail_likelihood * tail_label,
                denominator: tail_likelihood,
                stays: tail_label,
            };
        }
        let last_g = horizon + inactive + fade + 1;
        let (mut numerator, mut denominator) = (0.0, 0.0);
        // A churn day c on or before as_of (asked with `back`): prior
        // h (1 − h)^(c − b − 1) from the first possible day b + 1, and the
        // label is 1. The days after as_of then share the factor
        // P(C > as_of) = (1 − h)^(as_of − b).
        let b = user.signup_day.max(0);
        let mut prior = h * (1.0 - h).powi(i32::try_from((as_of - back).max(b) - b).unwrap_or(i32::MAX));
        for c in ((as_of - back).max(b) + 1)..=as_of {
            let w = prior * likelihood(c);
            numerator += w;
            denominator += w;
            prior *= 1.0 - h;
        }
        let survived = if back > 0 {
            (1.0 - h).powi(i32::try_from(as_of - b).unwrap_or(i32::MAX))
        } else {
            1.0
        };
        let mut prior = h * survived; // P(g) for g = 1
        for g in 1..=last_g {
            let c = as_of + g;
            let w = prior * likelihood(c);
            numerator += w * label_given(c);
            denominator += w;
            prior *= 1.0 - h;
        }
        // After the loop, `prior` / h is P(g > last_g) = (1 − h)^last_g.
        let tail = prior / h * tail_likelihood;
        numerator += tail * tail_label;
        denominator += tail;
        Joint {
            numerator,
            denominator,
            stays: tail_label,
        }
    }

    /// P(churn_label = 1 | the user's events up to `as_of`, their plan and
    /// signup day): the oracle not told who has left
    /// (`label_probability_unseen_churn`), nor the user's engagement, which
    /// is integrated over its prior (Beta(2, 2.5) at arrival; a user
    /// present on the first day has survived since their signup, a factor
    /// (1 − h)^tenure) and the events: `history` active days among the
    /// days before the window, the window's days by `active`. This is the
    /// ceiling of a model that sees events only. `user.engagement`,
    /// `daily_hazard` and `churn_day` are never read. A world whose drift
    /// scenario changes anything gives None: the days before the window are
    /// read as counts, which assumes one activity rule for them all.
    pub fn label_probability_from_events(
        &self,
        user: &User,
        as_of: i64,
        back: i64,
        history: History,
        active: impl Fn(i64) -> bool + Copy,
    ) -> Option<f64> {
        if self.scenario.applies(u32::MAX) {
            return None;
        }
        let tenure = (-user.signup_day).max(0) as f64;
        let day = u32::try_from(as_of.max(0)).unwrap_or(u32::MAX);
        let (n, k) = (f64::from(history.days), f64::from(history.active));
        // An engagement's log weight from its prior and the history.
        let log_weight = |e: f64| {
            let h = self.world.daily_hazard(e, user.paid);
            let p = event_probability(self.world.sessions(self.scenario, e, day).probability(None));
            e.ln() + 1.5 * (1.0 - e).ln() + tenure * (1.0 - h).ln() + k * p.ln() + (n - k) * (1.0 - p).ln()
        };
        // Where the weight is within e^-20 of its top, from a fine scan;
        // the integral is a midpoint sum of POINTS points across it (a long
        // history pins engagement to a narrow range: the points follow it).
        const SCAN: usize = 128;
        const POINTS: usize = 8;
        let scan: Vec<f64> = (0..SCAN)
            .map(|j| log_weight((j as f64 + 0.5) / SCAN as f64))
            .collect();
        let top = scan.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let first = scan.iter().position(|&w| w > top - 20.0).unwrap_or(0);
        let last = scan.iter().rposition(|&w| w > top - 20.0).unwrap_or(SCAN - 1);
        let (lo, hi) = (first as f64 / SCAN as f64, (last + 1) as f64 / SCAN as f64);
        let (mut numerator, mut denominator) = (0.0, 0.0);
        let mut window = self.window(user, as_of, back, active);
        for j in 0..POINTS {
            let e = lo + (hi - lo) * (j as f64 + 0.5) / POINTS as f64;
            let w = (log_weight(e) - top).exp();
            window.set_engagement(e);
            let with_e = User {
                engagement: e,
                daily_hazard: self.world.daily_hazard(e, user.paid),
                churn_day: None,
                ..user.clone()
            };
            let j = self.joint_on(&window, &with_e, as_of, back);
            numerator += w * j.numerator;
            denominator += w * j.denominator;
        }
        (denominator > 0.0).then(|| numerator / denominator)
    }
}

/// P(label = 1, the window's days), P(the window's days), and P(label = 1)
/// of a user who never leaves.
struct Joint {
    numerator: f64,
    denominator: f64,
    stays: f64,
}

/// What the days before the oracle's window say: of the `days` from
/// max(signup, 0) up to the window that were not a paid user's billing day
/// (an event there is certain), how many were `active`.
#[derive(Debug, Clone, Copy, Default)]
pub struct History {
    pub days: u32,
    pub active: u32,
}

impl History {
    /// The history of `user` before day `first` from a count of their
    /// active days there: a paid user's billing days, each active, are
    /// taken out of both counts.
    pub fn from_counts(
        world: &World,
        scenario: &DriftScenario,
        user: &User,
        first: i64,
        active_days: u32,
    ) -> History {
        let start = user.signup_day.max(0);
        let days = u32::try_from(first - start).unwrap_or(0);
        let billed = if user.paid {
            (start..first)
                .filter(|&t| {
                    world
                        .active_day(scenario, user, u32::try_from(t).unwrap_or(u32::MAX))
                        .billed()
                })
                .count() as u32
        } else {
            0
        };
        History {
            days: days.saturating_sub(billed),
            active: active_days.saturating_sub(billed),
        }
    }
}

impl Oracle<'_> {
    /// The first day of the window the oracle reads with `back`: the days
    /// before it are the `History`.
    pub fn window_start(&self, as_of: i64, back: i64) -> i64 {
        as_of - back - self.fade_days() + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::GenerateConfig;

    const LOOK_AHEAD: LookAhead = LookAhead {
        horizon_days: 30,
        inactive_days: 30,
    };

    fn world(users: u32, seed: u64) -> World {
        World::new(&GenerateConfig {
            users,
            seed,
            ..GenerateConfig::default()
        })
    }

    /// The oracle of a small default world, and its first user.
    fn first_user(seed: u64, check: impl FnOnce(&Oracle<'_>, User)) {
        let w = world(10, seed);
        let scenario = DriftScenario::default();
        let oracle = Oracle {
            world: &w,
            scenario: &scenario,
            look_ahead: LOOK_AHEAD,
        };
        check(&oracle, w.initial_population().remove(0));
    }

    #[test]
    fn a_user_who_has_left_churns_and_one_who_never_leaves_is_told_the_look_aheads_odds() {
        first_user(42, |oracle, mut user| {
            user.churn_day = Some(50);
            assert_eq!(oracle.label_probability(&user, 50, |_| false), 1.0);
            assert_eq!(oracle.label_probability(&user, 80, |_| true), 1.0);
            // h = 0: no churn, and a free user is inactive on each look-ahead
            // day with probability (1 − s)(1 − 0.005), s = 0.15 + 0.8e.
            user.daily_hazard = 0.0;
            user.churn_day = None;
            user.paid = false;
            let s = 0.15 + 0.8 * user.engagement;
            let expected = ((1.0 - s) * (1.0 - 0.005f64)).powi(30);
            let got = oracle.label_probability(&user, 100, |_| true);
            assert!((got - expected).abs() < 1e-15, "{got} vs {expected}");
            // A paid user is billed every month: a payment falls in any 30 days.
            user.paid = true;
            assert_eq!(oracle.label_probability(&user, 100, |_| true), 0.0);
        });
    }

    #[test]
    fn quiet_days_before_the_as_of_day_raise_the_risk() {
        first_user(7, |oracle, mut user| {
            user.paid = false;
            user.churn_day = Some(10_000);
            let busy = oracle.label_probability(&user, 120, |_| true);
            let fading = oracle.label_probability(&user, 120, |t| t < 110);
            let silent = oracle.label_probability(&user, 120, |_| false);
            assert!(busy < fading && fading < silent, "{busy} {fading} {silent}");
            assert!(silent < 1.0 && busy > 0.0);
            // Not told the churn day: an event on the as-of day says the
            // user is still here, and silence since day 115 makes a churn
            // day among the last five days possible, which only adds risk.
            let unseen =
                |active: &dyn Fn(i64) -> bool| oracle.label_probability_unseen_churn(&user, 120, 7, active);
            assert!((unseen(&|_| true) - busy).abs() < 1e-12);
            let quiet = |t: i64| t < 115;
            let told = oracle.label_probability(&user, 120, quiet);
            assert!(
                unseen(&quiet) > told && unseen(&quiet) < 1.0,
                "{} vs {told}",
                unseen(&quiet)
            );
        });
    }

    #[test]
    fn a_long_history_pins_the_engagement_the_events_oracle_integrates() {
        first_user(5, |oracle, mut user| {
            user.paid = false;
            user.signup_day = 0;
            let active = |t: i64| t != 118;
            let told_e = |e: f64| {
                let u = User {
                    engagement: e,
                    daily_hazard: oracle.world.daily_hazard(e, false),
                    ..user.clone()
                };
                oracle.label_probability_unseen_churn(&u, 120, 7, active)
            };
            // 2,000 days before the window at the activity of e = 0.3 and
            // of e = 0.8: the integral lands on that engagement's answer.
            for e in [0.3f64, 0.8] {
                let p = 1.0 - (1.0 - (0.15 + 0.8 * e)) * (1.0 - 0.005);
                let history = History {
                    days: 2000,
                    active: (p * 2000.0).round() as u32,
                };
                let got = oracle
                    .label_probability_from_events(&user, 120, 7, history, active)
                    .unwrap();
                let want = told_e(e);
                assert!((got - want).abs() < 0.1 * want, "e = {e}: {got} vs {want}");
            }
            // No history: between the answers of the least and most engaged.
            let none = oracle
                .label_probability_from_events(&user, 120, 7, History::default(), active)
                .unwrap();
            let answers: Vec<f64> = (1..100).map(|k| told_e(f64::from(k) / 100.0)).collect();
            let lo = answers.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = answers.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert!(none > lo && none < hi, "{none} not in {lo}..{hi}");
        });
    }

    /// The history of `user` before day `first`, read day by day from
    /// `active(t)`: the reference `History::from_counts` is checked against.
    fn history_by_day(
        world: &World,
        scenario: &DriftScenario,
        user: &User,
        first: i64,
        active: impl Fn(i64) -> bool,
    ) -> History {
        let mut h = History::default();
        for t in user.signup_day.max(0)..first {
            let billed = world
                .active_day(scenario, user, u32::try_from(t).unwrap_or(u32::MAX))
                .billed();
            if !billed {
                h.days += 1;
                h.active += u32::from(active(t));
            }
        }
        h
    }

    /// The oracle's sums, written out directly: every churn day of the
    /// first 200, every day's probability from the simulator's rule, and
    /// the geometric tail after them.
    /// With `unseen`, the churn day is not read: every churn day from the
    /// first possible one (after max(signup, 0)) on is summed.
    fn direct(
        oracle: &Oracle<'_>,
        user: &User,
        as_of: i64,
        unseen: bool,
        active: impl Fn(i64) -> bool,
    ) -> f64 {
        if !unseen && user.churn_day.is_some_and(|c| c <= as_of) {
            return 1.0;
        }
        let p = |t: i64, c: Option<i64>| {
            oracle
                .world
                .active_day(oracle.scenario, user, t as u32)
                .probability(c)
        };
        let observed = (as_of - 40).max(user.signup_day).max(0)..=as_of;
        let likelihood = |c: Option<i64>| -> f64 {
            observed
                .clone()
                .map(|t| if active(t) { p(t, c) } else { 1.0 - p(t, c) })
                .product()
        };
        let label = |c: Option<i64>| -> f64 { (as_of + 31..=as_of + 60).map(|t| 1.0 - p(t, c)).product() };
        let h = user.daily_hazard;
        let (mut num, mut den) = (0.0, 0.0);
        // P(C = c) = h (1 − h)^(c − b − 1) for c > b; told C > as_of, the
        // days after it alone, from b = as_of.
        let b = if unseen { user.signup_day.max(0) } else { as_of };
        for c in (b + 1)..=(as_of + 200) {
            let w = h * (1.0 - h).powi((c - b - 1) as i32) * likelihood(Some(c));
            num += w * if c <= as_of { 1.0 } else { label(Some(c)) };
            den += w;
        }
        let tail = (1.0 - h).powi((as_of + 200 - b) as i32) * likelihood(None);
        (num + tail * label(None)) / (den + tail)
    }

    #[test]
    fn the_prefix_products_give_the_direct_sums() {
        let w = world(50, 3);
        let scenario = DriftScenario::default();
        let oracle = Oracle {
            world: &w,
            scenario: &scenario,
            look_ahead: LOOK_AHEAD,
        };
        let (mut checked, mut unseen) = (0, 0);
        for user in w.initial_population() {
            let mut active = [false; 200];
            w.simulate_user(&scenario, &user, 0..200, &mut |day, _| {
                active[day as usize] = true
            });
            for as_of in [5i64, 30, 100] {
                let fast = oracle.label_probability(&user, as_of, |t| active[t as usize]);
                let slow = direct(&oracle, &user, as_of, false, |t| active[t as usize]);
                assert!((fast - slow).abs() < 1e-12, "{}: {fast} vs {slow}", user.user_id);
                checked += 1;
                // Not told the churn day: exact for a user active in the
                // `back` days, every earlier churn day being impossible.
                if (as_of - 6..=as_of).any(|t| t >= 0 && active[t as usize]) {
                    let fast = oracle.label_probability_unseen_churn(&user, as_of, 7, |t| active[t as usize]);
                    let slow = direct(&oracle, &user, as_of, true, |t| active[t as usize]);
                    assert!(
                        (fast - slow).abs() < 1e-12,
                        "{} unseen: {fast} vs {slow}",
                        user.user_id
                    );
                    unseen += 1;
                }
                // The history read as counts, as the ceiling reads it from
                // user_daily, is the history read day by day, for a user
                // still here (each billing day active).
                let first = oracle.window_start(as_of, 7);
                if user.churn_day.is_some_and(|c| c <= first) {
                    continue;
                }
                let by_day = history_by_day(&w, &scenario, &user, first, |t| active[t as usize]);
                let active_days = (user.signup_day.max(0)..first)
                    .filter(|&t| active[t as usize])
                    .count();
                let counted = History::from_counts(&w, &scenario, &user, first, active_days as u32);
                assert_eq!((by_day.days, by_day.active), (counted.days, counted.active));
            }
        }
        assert_eq!(checked, 150);
        assert!(unseen > 50, "{unseen} rows with an active day in the last 7");
    }

    /// Asserts that `p` is calibrated against `labels`: the mean within 3
    /// standard errors of the rate, and in each of `bands` with over 100
    /// rows the observed rate within 3 standard errors of the band's mean
    /// probability (and 0.01, for the model-free error of a finite band).
    /// Returns how many bands had over 100 rows.
    fn calibrated(p: &[f64], labels: &[f64], bands: &[(f64, f64)], what: &str) -> usize {
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (rate, n) = (mean(labels), labels.len() as f64);
        let se = (rate * (1.0 - rate) / n).sqrt();
        assert!(
            (rate - mean(p)).abs() < 3.0 * se,
            "{what}: observed {rate}, mean {}",
            mean(p)
        );
        let mut counted = 0;
        for &(lo, hi) in bands {
            let band: Vec<usize> = (0..labels.len()).filter(|&i| p[i] >= lo && p[i] < hi).collect();
            if band.len() <= 100 {
                continue;
            }
            counted += 1;
            let observed = band.iter().map(|&i| labels[i]).sum::<f64>() / band.len() as f64;
            let expected = band.iter().map(|&i| p[i]).sum::<f64>() / band.len() as f64;
            let se = (expected * (1.0 - expected) / band.len() as f64).sqrt();
            assert!(
                (observed - expected).abs() < 3.0 * se + 0.01,
                "{what}, band {lo}-{hi}: observed {observed:.4}, predicted {expected:.4} over {} rows",
                band.len()
            );
        }
        counted
    }

    /// The oracle is the label's conditional probability: on users the
    /// simulator itself plays out, every band of oracle probabilities
    /// churns at the band's mean probability, and no coarser predictor
    /// (the hazard's 30-day probability rescaled to the same mean) has a
    /// lower Brier score. The simulator decides the events; the oracle only
    /// reads the days up to the as-of day.
    #[test]
    fn the_oracle_is_calibrated_on_users_the_simulator_plays_out() {
        let scenario = DriftScenario::default();
        let (mut oracle_p, mut unseen_p, mut hazard_p, mut labels) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Every 8th row, the oracle told neither who left nor engagement.
        let (mut events_p, mut events_labels) = (Vec::new(), Vec::new());
        for seed in [11u64, 12] {
            let w = world(6000, seed);
            let oracle = Oracle {
                world: &w,
                scenario: &scenario,
                look_ahead: LOOK_AHEAD,
            };
            for user in w.initial_population() {
                let mut active = [false; 160];
                w.simulate_user(&scenario, &user, 0..160, &mut |day, _| {
                    active[day as usize] = true
                });
                for as_of in [40i64, 70, 99] {
                    // The "active" population: an active day in the 7 days
                    // up to the as-of day.
                    if !(as_of - 6..=as_of).any(|t| active[t as usize]) {
                        continue;
                    }
                    let look_ahead = (as_of + 31)..=(as_of + 60);
                    labels.push(f64::from(u8::from(
                        !look_ahead.clone().any(|t| active[t as usize]),
                    )));
                    oracle_p.push(oracle.label_probability(&user, as_of, |t| active[t as usize]));
                    unseen_p
                        .push(oracle.label_probability_unseen_churn(&user, as_of, 7, |t| active[t as usize]));
                    if labels.len() % 8 == 0 {
                        let seen = |t: i64| active[t as usize];
                        let history =
                            history_by_day(&w, &scenario, &user, oracle.window_start(as_of, 7), seen);
                        let p = oracle.label_probability_from_events(&user, as_of, 7, history, seen);
                        events_p.push(p.expect("a world without drift"));
                        events_labels.push(labels[labels.len() - 1]);
                    }
                    hazard_p.push(user.churn_probability_30d());
                }
            }
        }
        let n = labels.len() as f64;
        assert!(n > 20_000.0, "{n} rows");
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let rate = mean(&labels);
        const SIX: [(f64, f64); 6] = [
            (0.0, 0.02),
            (0.02, 0.05),
            (0.05, 0.1),
            (0.1, 0.3),
            (0.3, 0.9),
            (0.9, 1.01),
        ];
        assert_eq!(calibrated(&oracle_p, &labels, &SIX, "the oracle"), 6);
        assert!(calibrated(&unseen_p, &labels, &SIX, "the oracle not told who left") >= 5);
        // Not told who has left, it is a probability still, and its Brier
        // score lies between the told oracle's and the hazard's.
        assert!(unseen_p.iter().all(|&p| (0.0..=1.0).contains(&p)));
        // Told neither, on its rows (an eighth): calibrated in bands too,
        // and better than the constant.
        let m = events_labels.len() as f64;
        let events_rate = mean(&events_labels);
        let bands = [(0.0, 0.03), (0.03, 0.08), (0.08, 0.3), (0.3, 1.01)];
        assert!(calibrated(&events_p, &events_labels, &bands, "the oracle told neither") >= 3);
        let brier = |p: &[f64]| p.iter().zip(&labels).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / n;
        let scale = rate / mean(&hazard_p);
        let rescaled: Vec<f64> = hazard_p.iter().map(|p| (p * scale).min(1.0)).collect();
        let events_brier = events_p
            .iter()
            .zip(&events_labels)
            .map(|(p, y)| (p - y).powi(2))
            .sum::<f64>()
            / m;
        let constant_brier = events_rate * (1.0 - events_rate);
        assert!(
            events_brier < constant_brier,
            "{events_brier} vs {constant_brier}"
        );
        assert!(
            brier(&oracle_p) < brier(&unseen_p) && brier(&unseen_p) < brier(&rescaled),
            "{} vs {} vs {}",
            brier(&oracle_p),
            brier(&unseen_p),
            brier(&rescaled)
        );
    }
}
