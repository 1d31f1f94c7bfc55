//! The generator's hidden truth, read back: the Bayes oracle (`src/oracle.rs`)
//! on a model's test rows, the ceiling its card measures against.

use chrono::NaiveDate;
use duckdb::Connection;

use crate::config::{Config, DriftScenario, GenerateConfig, Population};
use crate::error::{Context, Result};
use crate::model::metrics;
use crate::oracle::{History, LookAhead, Oracle};
use crate::simulation::{User, World};
use crate::store::render_query;

/// The oracle's figures on a model's test rows, or why there are none.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ceiling {
    Measured {
        pr_auc: f64,
        roc_auc: f64,
        /// The oracle's mean probability, beside the test rows' churn rate.
        mean_risk: f64,
        rows: usize,
        /// The oracle not told whether a user has already left (an events-only
        /// model's tighter ceiling), when the population makes it exact.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unseen_churn: Option<OracleVariant>,
        /// The oracle told neither who has left nor engagement: the ceiling
        /// of a model that sees events only.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_events: Option<OracleVariant>,
        /// When the test set is larger than `ORACLE_ROWS`: the users the
        /// oracles read, and the model and the best input on their rows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample: Option<OracleSample>,
    },
    /// Ingested data, or a world the oracle cannot replay.
    Unknown { reason: String },
}

/// The figures of `Oracle::label_probability_unseen_churn` (or
/// `label_probability_from_events`) on the test rows: the churn day may be
/// any of the `back_days` up to the as-of day.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OracleVariant {
    pub pr_auc: f64,
    pub roc_auc: f64,
    pub mean_risk: f64,
    pub back_days: u32,
}

/// A sample of the test users, all rows of each (about `ORACLE_ROWS`
/// rows): the oracles' rows when the test set is larger. The shares of the
/// gap are taken on these rows, the model's and the best input's PR-AUC
/// measured on them too.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OracleSample {
    pub users: usize,
    pub test_rows: usize,
    pub model_pr_auc: f64,
    pub baseline_pr_auc: Option<f64>,
}

impl Ceiling {
    /// The share of the gap between the best single input and `ceiling`
    /// (one of this ceiling's PR-AUCs) that the model goes, on the rows
    /// the oracles read: the model's and the input's figures on every test
    /// row (`model`, `baseline`), or on the sample's rows when they read
    /// a sample.
    pub fn share(&self, model: f64, baseline: Option<f64>, ceiling: f64) -> Option<f64> {
        let (model, baseline) = match self {
            Ceiling::Measured { sample: Some(s), .. } => (s.model_pr_auc, s.baseline_pr_auc),
            _ => (model, baseline),
        };
        gap_closed(model, baseline?, ceiling)
    }

    /// The sample the oracles read, when they read one.
    pub fn sample(&self) -> Option<&OracleSample> {
        match self {
            Ceiling::Measured { sample, .. } => sample.as_ref(),
            Ceiling::Unknown { .. } => None,
        }
    }

    /// The oracles told less: not who has left, and events alone.
    pub fn told_less(&self) -> (Option<&OracleVariant>, Option<&OracleVariant>) {
        match self {
            Ceiling::Measured {
                unseen_churn,
                from_events,
                ..
            } => (unseen_churn.as_ref(), from_events.as_ref()),
            Ceiling::Unknown { .. } => (None, None),
        }
    }

    pub fn pr_auc(&self) -> Option<f64> {
        match self {
            Ceiling::Measured { pr_auc, .. } => Some(*pr_auc),
            Ceiling::Unknown { .. } => None,
        }
    }

    pub fn roc_auc(&self) -> Option<f64> {
        match self {
            Ceiling::Measured { roc_auc, .. } => Some(*roc_auc),
            Ceiling::Unknown { .. } => None,
        }
    }
}

/// The share of the way from the best single input's PR-AUC to the
/// oracle's that a model's PR-AUC goes (1: as good as the best possible;
/// negative: worse than the single input).
pub fn gap_closed(model: f64, baseline: f64, ceiling: f64) -> Option<f64> {
    (ceiling > baseline).then(|| (model - baseline) / (ceiling - baseline))
}

/// Each generated user's churn date (days since 1970-01-01), for the users
/// who have left.
pub fn churn_days(conn: &Connection) -> Result<std::collections::HashMap<String, i32>> {
    conn.prepare(
        "select user_id, (churn_date - date '1970-01-01')::integer from synthetic_truth where churn_date is not null",
    )
    .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
    .context(|| "reading the users' churn dates".into())
}

/// Of the top 10% and top 1% of the test rows by risk, and of the
/// positives, the share whose user had already left by the as-of day.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlreadyLeft {
    pub top_decile: f64,
    pub top_percent: f64,
    pub positives: f64,
}

pub fn already_left(conn: &Connection, test: &crate::store::scored::Scored) -> Result<AlreadyLeft> {
    let churned = churn_days(conn)?;
    // Each user's churn day once, then each row by its user's code.
    let churn_day: Vec<Option<i32>> = test.users.iter().map(|u| churned.get(u).copied()).collect();
    let gone: Vec<bool> = (0..test.len())
        .map(|i| churn_day[test.user[i] as usize].is_some_and(|c| c <= test.as_of[i]))
        .collect();
    let scores = &test.scores[0];
    let positives: Vec<usize> = (0..test.len()).filter(|&i| test.label[i] == 1.0).collect();
    let top = metrics::top_shares(scores, &gone, &[0.1, 0.01]);
    Ok(AlreadyLeft {
        top_decile: top[0],
        top_percent: top[1],
        positives: positives.iter().filter(|&&i| gone[i]).count() as f64 / positives.len().max(1) as f64,
    })
}

/// The world the file's data was generated in: its first generate's
/// config, when every later append ran with the same drift scenario.
fn world_config(conn: &Connection) -> Result<std::result::Result<GenerateConfig, String>> {
    let rows: Vec<(String, String, String)> = conn
        .prepare(
            "select mode, config_json::varchar, drift_json::varchar from simulation order by generated_at",
        )
        .and_then(|mut s| {
            s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .context(|| "reading the simulation's config".into())?;
    let Some((_, config, _)) = rows.iter().find(|(mode, _, _)| mode == "generate") else {
        return Ok(Err(
            "the data was not generated (ingested data has no hidden truth)".into(),
        ));
    };
    let cfg: GenerateConfig = match serde_json::from_str(config) {
        Ok(cfg) => cfg,
        Err(e) => return Ok(Err(format!("the stored simulation config is unreadable ({e})"))),
    };
    if cfg.drift.switches_churn_driver() {
        return Ok(Err(
            "the drift scenario switches the churn driver, which redraws hazards the oracle does not replay"
                .into(),
        ));
    }
    for (_, _, drift) in &rows {
        let scenario: std::result::Result<DriftScenario, _> = serde_json::from_str(drift);
        if scenario.as_ref().ok() != Some(&cfg.drift) {
            return Ok(Err(
                "an append ran with another drift scenario than the generate; the oracle replays one".into(),
            ));
        }
    }
    Ok(Ok(cfg))
}

/// The most test rows the oracles are measured on: a larger test set is
/// sampled by user (`sample_users`). The oracles told less cost about
/// 45 µs a row; 500,000 rows (2,000 users' test window has 61,426, 20,000
/// users' 604,178) keep train's oracle step at 100,000 users as long as
/// the oracle told everything took on every row, and at 1,000,000 users
/// (30.5 M test rows) a tenth of it.
pub const ORACLE_ROWS: usize = 500_000;

/// Which of the test users the oracles read: all of them when the test set
/// has at most `max_rows` rows, else each with probability `max_rows` /
/// rows, drawn by a hash of the user id (the same users on every run and
/// for every model of the same data). `users` are the ids, `user` each
/// row's index into them.
pub fn sample_users(users: &[String], user: &[u32], max_rows: usize) -> Option<Vec<bool>> {
    if user.len() <= max_rows {
        return None;
    }
    let share = max_rows as f64 / user.len() as f64;
    Some(users.iter().map(|id| unit_hash(id) < share).collect())
}

/// A user id's place in [0, 1): FNV-1a over its bytes, then a 64-bit
/// finaliser (splitmix64's) so that ids differing in their last
/// characters spread over the whole range.
fn unit_hash(id: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The test rows a model was measured on: its scores and labels, and the
/// best single input's ranking of the same rows (for the shares of the gap
/// on a sample).
pub struct TestRows<'a> {
    pub scored: &'a crate::store::scored::Scored,
    pub baseline: Option<&'a [f64]>,
}

/// The oracle's PR-AUC and ROC-AUC on the test rows of `training_set`
/// (as-of dates `test_dates`, first and last), or on a sample of their users
/// when there are more than `ORACLE_ROWS`.
pub fn ceiling(
    conn: &Connection,
    config: &Config,
    test_dates: (NaiveDate, NaiveDate),
    test: &TestRows<'_>,
) -> Result<Ceiling> {
    ceiling_at_most(conn, config, test_dates, test, ORACLE_ROWS)
}

/// `ceiling`, sampling the test users when there are more than `max_rows`
/// test rows.
pub fn ceiling_at_most(
    conn: &Connection,
    config: &Config,
    (test_from, test_to): (NaiveDate, NaiveDate),
    test: &TestRows<'_>,
    max_rows: usize,
) -> Result<Ceiling> {
    // The schema always has `simulation`; ingested data leaves it without
    // a generate row, which `world_config` names.
    let cfg = match world_config(conn)? {
        Ok(cfg) => cfg,
        Err(reason) => return Ok(Ceiling::Unknown { reason }),
    };
    let world = World::new(&cfg);
    let oracle = Oracle {
        world: &world,
        scenario: &cfg.drift,
        look_ahead: LookAhead {
            horizon_days: config.labels.horizon_days,
            inactive_days: config.labels.inactive_days,
        },
    };
    let fade = oracle.fade_days();
    if fade > 62 {
        return Ok(Ceiling::Unknown {
            reason: format!("a fade of {fade} days is longer than the oracle's 62-day activity mask"),
        });
    }
    // Not told who has left, the oracle weighs each churn day of the last
    // `recent_days`: exact on the active population, whose rows all have an
    // active day there (an earlier churn day is then impossible).
    let back = (config.labels.population == Population::Active
        && i64::from(config.labels.recent_days) + fade <= 63)
        .then_some(i64::from(config.labels.recent_days));
    // The oracles told less cost a joint sum or eight a row (about 45 µs
    // together): a test set of more than ORACLE_ROWS is sampled by user.
    let scored = test.scored;
    let sample = sample_users(&scored.users, &scored.user, max_rows);
    // The test rows the oracles read: every one, or the sampled users'.
    let kept: Vec<usize> = (0..scored.len())
        .filter(|&i| sample.as_ref().is_none_or(|s| s[scored.user[i] as usize]))
        .collect();
    let n_rows = kept.len();
    if let Some(s) = &sample {
        conn.execute_batch("create or replace temp table _oracle_users (user_id varchar)")
            .context(|| "sampling the test users for the oracle".into())?;
        let mut app = conn
            .appender("_oracle_users")
            .context(|| "sampling the test users for the oracle".into())?;
        app.append_rows(
            scored
                .users
                .iter()
                .zip(s)
                .filter(|&(_, &k)| k)
                .map(|(id, _)| [id]),
        )
        .and_then(|()| app.flush())
        .context(|| "sampling the test users for the oracle".into())?;
    }
    // The mask's days end where the history's counted days begin: the
    // first day of the oracle's window (`Oracle::window_start`).
    let mask_days = (fade + back.unwrap_or(0)).max(1);
    type Row = (f64, i64, NaiveDate, bool, f64, f64, Option<NaiveDate>, i64, i64);
    let mut stmt = conn
        .prepare(&render_query(
            "oracle_rows",
            &serde_json::json!({"history": back.is_some(), "sampled": sample.is_some()}),
        )?)
        .context(|| "reading the test rows' hidden truth".into())?;
    let rows: Vec<Row> = stmt
        .query_map(duckdb::params![test_from, test_to, mask_days], |r| {
            let as_of: NaiveDate = r.get(1)?;
            Ok((
                r.get::<_, i32>(2).map(f64::from)?,
                (as_of - cfg.start_date).num_days(),
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
                r.get(6)?,
                r.get(7)?,
                r.get(8)?,
                r.get(9)?,
            ))
        })
        .and_then(|rows| rows.collect())
        .context(|| "reading the test rows' hidden truth".into())?;
    if sample.is_some() {
        conn.execute_batch("drop table _oracle_users")
            .context(|| "sampling the test users for the oracle".into())?;
    }
    if rows.len() != n_rows {
        return Ok(Ceiling::Unknown {
            reason: format!(
                "{} of the {n_rows} test rows have a user with a hidden truth (data ingested beside the \
                 generated)",
                rows.len()
            ),
        });
    }
    // Each row's probabilities: told who left, not told, and from events
    // alone (NaN when not measured).
    let probability = |&(_, as_of, signup, paid, engagement, hazard, churn, mask, before): &Row| -> [f64; 3] {
        let user = User {
            index: 0,
            user_id: String::new(),
            signup_day: (signup - cfg.start_date).num_days(),
            paid,
            country: "",
            source: "",
            engagement,
            daily_hazard: hazard,
            churn_day: churn.map(|c| (c - cfg.start_date).num_days()),
        };
        let active = |t: i64| {
            let k = as_of - t;
            (0..64).contains(&k) && mask & (1i64 << k) != 0
        };
        let told = oracle.label_probability(&user, as_of, active);
        let Some(back) = back else {
            return [told, f64::NAN, f64::NAN];
        };
        let unseen = oracle.label_probability_unseen_churn(&user, as_of, back, active);
        let history = History::from_counts(
            &world,
            &cfg.drift,
            &user,
            oracle.window_start(as_of, back),
            u32::try_from(before).unwrap_or(0),
        );
        let events = oracle
            .label_probability_from_events(&user, as_of, back, history, active)
            .unwrap_or(f64::NAN);
        [told, unseen, events]
    };
    // Two threads: a million users' test rows take a minute on one.
    let half = rows.len() / 2;
    let (first, second) = rows.split_at(half);
    let (mut p, rest) = std::thread::scope(|scope| {
        let other = scope.spawn(|| second.iter().map(probability).collect::<Vec<[f64; 3]>>());
        let mine: Vec<[f64; 3]> = first.iter().map(probability).collect();
        (mine, other.join().expect("the oracle's thread does not panic"))
    });
    p.extend(rest);
    let labels: Vec<f64> = rows.iter().map(|r| r.0).collect();
    let column = |k: usize| p.iter().map(|r| r[k]).collect::<Vec<f64>>();
    let m = metrics::evaluate(&labels, &column(0))?;
    let variant = |k: usize| -> Result<Option<OracleVariant>> {
        let probabilities = column(k);
        let (Some(back), false) = (back, probabilities.iter().any(|p| p.is_nan())) else {
            return Ok(None);
        };
        let u = metrics::evaluate(&labels, &probabilities)?;
        Ok(Some(OracleVariant {
            pr_auc: u.pr_auc,
            roc_auc: u.roc_auc,
            mean_risk: u.mean_predicted,
            back_days: back as u32,
        }))
    };
    let (unseen_churn, from_events) = (variant(1)?, variant(2)?);
    // On a sample, the model and the best input on the same rows.
    let sample = match &sample {
        Some(s) => {
            let on = |v: &[f64]| kept.iter().map(|&i| v[i]).collect::<Vec<f64>>();
            let labels = on(&scored.label);
            Some(OracleSample {
                users: s.iter().filter(|&&k| k).count(),
                test_rows: scored.len(),
                model_pr_auc: metrics::average_precision(&labels, &on(&scored.scores[0]))?,
                baseline_pr_auc: match test.baseline {
                    Some(ranking) => Some(metrics::average_precision(&labels, &on(ranking))?),
                    None => None,
                },
            })
        }
        None => None,
    };
    Ok(Ceiling::Measured {
        pr_auc: m.pr_auc,
        roc_auc: m.roc_auc,
        mean_risk: m.mean_predicted,
        rows: rows.len(),
        unseen_churn,
        from_events,
        sample,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_set_within_the_bound_is_not_sampled() {
        let users: Vec<String> = (0..10).map(|i| format!("u{i:06}")).collect();
        let user: Vec<u32> = (0..100).map(|i| i % 10).collect();
        assert_eq!(sample_users(&users, &user, 100), None);
        assert!(sample_users(&users, &user, 99).is_some());
    }

    /// Whole users, about max_rows rows, and the same users every time,
    /// from ids that differ in their last characters only.
    #[test]
    fn a_sample_keeps_whole_users_about_the_bound_and_the_same_ones() {
        let users: Vec<String> = (1..=20_000).map(|i| format!("u{i:06}")).collect();
        // User k has 1 + k % 7 rows: 79,997 rows in all.
        let user: Vec<u32> = (0..users.len() as u32)
            .flat_map(|k| std::iter::repeat_n(k, 1 + k as usize % 7))
            .collect();
        let kept = sample_users(&users, &user, 24_000).unwrap();
        assert_eq!(kept.len(), users.len());
        let rows = user.iter().filter(|&&u| kept[u as usize]).count();
        let share = rows as f64 / user.len() as f64;
        assert!((share - 0.3).abs() < 0.015, "{rows} of {} rows", user.len());
        // Consecutive ids are spread: each thousand keeps about 30%.
        for block in kept.chunks(1_000) {
            let n = block.iter().filter(|&&k| k).count();
            assert!((230..370).contains(&n), "{n} of 1,000");
        }
        assert_eq!(sample_users(&users, &user, 24_000).unwrap(), kept);
        // A smaller bound keeps a subset of the larger one's users.
        let fewer = sample_users(&users, &user, 12_000).unwrap();
        assert!(fewer.iter().zip(&kept).all(|(&f, &k)| !f || k));
    }
}
