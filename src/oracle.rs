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
use crate::simulation::{ActiveDay, User, World};

/// The label's look-ahead: churn_label = 1 when no active day falls in
/// (d + horizon_days, d + horizon_days + inactive_days].
#[derive(Debug, Clone, Copy)]
pub struct LookAhead {
    pub horizon_days: u32,
    pub inactive_days: u32,
}

/// One day the oracle reads: the simulator's rule of it, and its
/// probability of an event when no churn day fades it.
struct Day {
    rule: Option<ActiveDay>,
    unfaded: f64,
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
        let (horizon, inactive) = (
            i64::from(self.look_ahead.horizon_days),
            i64::from(self.look_ahead.inactive_days),
        );
        let fade = self.fade_days();
        // Each day: its rule, and its probability when no churn day fades
        // it. Only the days of [c − fade, c) depend on the churn day c.
        let day = |t: i64| {
            let rule = u32::try_from(t)
                .ok()
                .map(|t| self.world.active_day(self.scenario, user, t));
            Day {
                unfaded: rule.map_or(0.0, |r| r.probability(None)),
                rule,
            }
        };
        let first_seen = (as_of - fade + 1).max(user.signup_day).max(0);
        let observed: Vec<(Day, bool)> = (first_seen..=as_of).map(|t| (day(t), active(t))).collect();
        let first_ahead = as_of + horizon + 1;
        let ahead: Vec<Day> = (first_ahead..=(as_of + horizon + inactive)).map(day).collect();
        // A day's factor in the likelihood and in P(label = 1), given its
        // probability of an event.
        let seen = |p: f64, a: bool| if a { p } else { 1.0 - p };
        // Products of the unfaded factors, prefix by prefix: a churn day c
        // fades only the days from c − fade on, so each c multiplies the
        // unfaded prefix by at most `fade` faded factors (the days from c on
        // have no event: a factor 1 in P(label = 1), and none is observed).
        let prefix = |factors: &mut dyn Iterator<Item = f64>| {
            let mut out = vec![1.0];
            for f in factors {
                out.push(out[out.len() - 1] * f);
            }
            out
        };
        let observed_prefix = prefix(&mut observed.iter().map(|(d, a)| seen(d.unfaded, *a)));
        let ahead_prefix = prefix(&mut ahead.iter().map(|d| 1.0 - d.unfaded));
        let faded = |d: &Day, c: i64| d.rule.map_or(0.0, |r| r.probability(Some(c)));
        // How many of `n` days from `first` lie before day `t`.
        let before = |first: i64, n: usize, t: i64| (t - first).clamp(0, n as i64) as usize;
        let likelihood = |c: i64| -> f64 {
            let k = before(first_seen, observed.len(), c - fade);
            observed[k..]
                .iter()
                .fold(observed_prefix[k], |acc, (d, a)| acc * seen(faded(d, c), *a))
        };
        let label_given = |c: i64| -> f64 {
            let end = before(first_ahead, ahead.len(), c);
            let k = before(first_ahead, end, c - fade);
            ahead[k..end]
                .iter()
                .fold(ahead_prefix[k], |acc, d| acc * (1.0 - faded(d, c)))
        };
        let h = user.daily_hazard;
        // No churn ahead (h = 0), or the unfaded tail: C beyond every day
        // the fade could reach.
        let (tail_likelihood, tail_label) = (observed_prefix[observed.len()], ahead_prefix[ahead.len()]);
        if h <= 0.0 {
            return tail_label;
        }
        let last_g = horizon + inactive + fade + 1;
        let (mut numerator, mut denominator) = (0.0, 0.0);
        let mut prior = h; // P(g) for g = 1
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
        if denominator > 0.0 {
            numerator / denominator
        } else {
            tail_label
        }
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
        });
    }

    /// The oracle's sums, written out directly: every churn day of the
    /// first 200, every day's probability from the simulator's rule, and
    /// the geometric tail after them.
    fn direct(oracle: &Oracle<'_>, user: &User, as_of: i64, active: impl Fn(i64) -> bool) -> f64 {
        if user.churn_day.is_some_and(|c| c <= as_of) {
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
        for g in 1..=200 {
            let w = h * (1.0 - h).powi(g as i32 - 1) * likelihood(Some(as_of + g));
            num += w * label(Some(as_of + g));
            den += w;
        }
        let tail = (1.0 - h).powi(200) * likelihood(None);
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
        let mut checked = 0;
        for user in w.initial_population() {
            let mut active = [false; 200];
            w.simulate_user(&scenario, &user, 0..200, &mut |day, _| {
                active[day as usize] = true
            });
            for as_of in [5i64, 30, 100] {
                let fast = oracle.label_probability(&user, as_of, |t| active[t as usize]);
                let slow = direct(&oracle, &user, as_of, |t| active[t as usize]);
                assert!((fast - slow).abs() < 1e-12, "{}: {fast} vs {slow}", user.user_id);
                checked += 1;
            }
        }
        assert_eq!(checked, 150);
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
        let (mut oracle_p, mut hazard_p, mut labels) = (Vec::new(), Vec::new(), Vec::new());
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
                    hazard_p.push(user.churn_probability_30d());
                }
            }
        }
        let n = labels.len() as f64;
        assert!(n > 20_000.0, "{n} rows");
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (rate, mean_oracle) = (mean(&labels), mean(&oracle_p));
        let se = (rate * (1.0 - rate) / n).sqrt();
        assert!(
            (rate - mean_oracle).abs() < 3.0 * se,
            "observed {rate}, oracle {mean_oracle}"
        );
        // Bands of oracle probability: observed rate within 3 standard errors
        // of the band's mean probability (and 0.01, for the model-free error
        // of a finite band).
        for (lo, hi) in [
            (0.0, 0.02),
            (0.02, 0.05),
            (0.05, 0.1),
            (0.1, 0.3),
            (0.3, 0.9),
            (0.9, 1.01),
        ] {
            let band: Vec<usize> = (0..labels.len())
                .filter(|&i| oracle_p[i] >= lo && oracle_p[i] < hi)
                .collect();
            assert!(band.len() > 100, "band {lo}-{hi}: {} rows", band.len());
            let observed = band.iter().map(|&i| labels[i]).sum::<f64>() / band.len() as f64;
            let expected = band.iter().map(|&i| oracle_p[i]).sum::<f64>() / band.len() as f64;
            let se = (expected * (1.0 - expected) / band.len() as f64).sqrt();
            assert!(
                (observed - expected).abs() < 3.0 * se + 0.01,
                "band {lo}-{hi}: observed {observed:.4}, oracle {expected:.4} over {} rows",
                band.len()
            );
        }
        let brier = |p: &[f64]| p.iter().zip(&labels).map(|(p, y)| (p - y).powi(2)).sum::<f64>() / n;
        let scale = rate / mean(&hazard_p);
        let rescaled: Vec<f64> = hazard_p.iter().map(|p| (p * scale).min(1.0)).collect();
        assert!(
            brier(&oracle_p) < brier(&rescaled),
            "{} vs {}",
            brier(&oracle_p),
            brier(&rescaled)
        );
    }
}
