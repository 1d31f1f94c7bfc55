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

impl Ceiling {
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
    let gone: Vec<bool> = (0..test.len())
        .map(|i| {
            churned
                .get(test.user_name(i))
                .is_some_and(|&c| c <= test.as_of[i])
        })
        .collect();
    let scores = &test.scores[0];
    let positives: Vec<usize> = (0..test.len()).filter(|&i| test.label[i] == 1.0).collect();
    Ok(AlreadyLeft {
        top_decile: metrics::top_share(scores, &gone, 0.1),
        top_percent: metrics::top_share(scores, &gone, 0.01),
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

/// The most test rows the oracles told less are measured on (20,000
/// users' test window has 604,178).
pub const EVENTS_ORACLE_ROWS: usize = 1_000_000;

/// The oracle's PR-AUC and ROC-AUC on the test rows of `training_set`
/// (as-of dates `test_from` to `test_to`, `n_test` rows).
pub fn ceiling(
    conn: &Connection,
    config: &Config,
    test_from: NaiveDate,
    test_to: NaiveDate,
    n_test: usize,
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
    // The oracles told less cost a joint sum or eight a row (about 45 µs
    // together): measured on up to EVENTS_ORACLE_ROWS test rows.
    let back = (config.labels.population == Population::Active
        && i64::from(config.labels.recent_days) + fade <= 63
        && n_test <= EVENTS_ORACLE_ROWS)
        .then_some(i64::from(config.labels.recent_days));
    // The mask's days end where the history's counted days begin: the
    // first day of the oracle's window (`Oracle::window_start`).
    let mask_days = (fade + back.unwrap_or(0)).max(1);
    type Row = (f64, i64, NaiveDate, bool, f64, f64, Option<NaiveDate>, i64, i64);
    let mut stmt = conn
        .prepare(&render_query(
            "oracle_rows",
            &serde_json::json!({"history": back.is_some()}),
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
    if rows.len() != n_test {
        return Ok(Ceiling::Unknown {
            reason: format!(
                "{} of the {n_test} test rows have a user with a hidden truth (data ingested beside the \
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
    Ok(Ceiling::Measured {
        pr_auc: m.pr_auc,
        roc_auc: m.roc_auc,
        mean_risk: m.mean_predicted,
        rows: rows.len(),
        unseen_churn,
        from_events,
    })
}
