//! Settings: one `Config` with its defaults in code, beside the types of
//! each section. Loading (file, environment, flags) is `load.rs`; the range
//! checks are `validate.rs`; DuckDB's share of the machine is `memory.rs`.

mod load;
mod memory;
mod validate;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub generate: GenerateConfig,
    pub validate: ValidateConfig,
    pub features: FeaturesConfig,
    pub labels: LabelsConfig,
    pub train: TrainConfig,
    pub promote: PromoteConfig,
    pub monitor: MonitorConfig,
    pub drift: DriftConfig,
    pub serve: ServeConfig,
    pub store: StoreConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenerateConfig {
    /// Users present on the start date: the steady-state population size
    /// (new users keep arriving as others leave).
    pub users: u32,
    /// Number of simulated days.
    pub days: u32,
    /// First simulated day.
    pub start_date: NaiveDate,
    /// Seed of the random generator: same config, same tables.
    pub seed: u64,
    /// Share of users on the paid plan.
    pub paid_ratio: f64,
    /// The mean probability of leaving within 30 days over the steady-state
    /// population (a monthly churn rate); the daily hazard is calibrated to it.
    pub churn_base_rate: f64,
    /// Days before a churner's churn day over which activity fades to a
    /// quarter of its usual level; 0 = no fading (the seed's story).
    pub pre_churn_decay_days: u32,
    /// A change of behaviour from a given day on (drift demos and tests).
    pub drift: DriftScenario,
}

/// `[generate.drift]`: from simulated day `start_day` (0 = the start date) on,
/// daily activity and watch minutes are multiplied, new signups get
/// `paid_ratio`, and `churn_driver` may change who leaves. The defaults
/// change nothing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftScenario {
    pub start_day: u32,
    pub activity_multiplier: f64,
    pub watch_minutes_multiplier: f64,
    pub paid_ratio: Option<f64>,
    pub churn_driver: ChurnDriver,
    /// Days over which activity fades before churn, from `start_day` on
    /// (unset: generate.pre_churn_decay_days; 0: users leave without warning).
    pub pre_churn_decay_days: Option<u32>,
}

/// Who leaves: the hazard grows with disengagement (the world's story), or,
/// from `start_day` on, with engagement (users who got what they came for):
/// a change in what predicts churn, which a model trained before it cannot
/// know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChurnDriver {
    #[default]
    Disengagement,
    Engagement,
}

impl Default for DriftScenario {
    fn default() -> Self {
        DriftScenario {
            start_day: 0,
            activity_multiplier: 1.0,
            watch_minutes_multiplier: 1.0,
            paid_ratio: None,
            churn_driver: ChurnDriver::Disengagement,
            pre_churn_decay_days: None,
        }
    }
}

impl DriftScenario {
    /// Whether the scenario changes day `day` (the defaults change nothing).
    pub fn applies(&self, day: u32) -> bool {
        day >= self.start_day
            && *self
                != DriftScenario {
                    start_day: self.start_day,
                    ..Default::default()
                }
    }
}

impl Default for GenerateConfig {
    fn default() -> Self {
        GenerateConfig {
            users: 2000,
            days: 240,
            start_date: NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date"),
            seed: 42,
            paid_ratio: 0.35,
            churn_base_rate: 0.05,
            pre_churn_decay_days: 21,
            drift: DriftScenario::default(),
        }
    }
}

/// How a failing validation check is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Stored, shown, and fails the validate stage (exit 1).
    Error,
    /// Stored and shown; the run goes on.
    Warn,
    /// Not run.
    Off,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warn => "warn",
            Severity::Off => "off",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidateConfig {
    /// An ingested event may be dated at most this many days after its load
    /// (`events_time_not_after_load`).
    pub future_slack_days: u32,
    /// No event may be dated before this day (`events_time_after_earliest_date`).
    pub earliest_date: NaiveDate,
    /// Per check (the file name under sql/validate/, without .sql), a
    /// severity in place of the check's own: e.g. a purchase log with free
    /// items sets `severity.events_payment_amount_positive = "warn"`.
    pub severity: std::collections::BTreeMap<String, Severity>,
}

impl Default for ValidateConfig {
    fn default() -> Self {
        ValidateConfig {
            future_slack_days: 1,
            earliest_date: NaiveDate::from_ymd_opt(1990, 1, 1).expect("a date"),
            severity: std::collections::BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesConfig {
    /// Rolling windows in days.
    pub windows: Vec<u32>,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        FeaturesConfig {
            windows: vec![7, 14, 30],
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Population {
    /// Users with at least one active day in the `labels.recent_days` days
    /// ending on the as-of day: customers who can still be saved.
    Active,
    /// Every labelled row.
    All,
}

impl Population {
    pub fn as_str(self) -> &'static str {
        match self {
            Population::Active => "active",
            Population::All => "all",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LabelsConfig {
    /// Days within which the user leaves: `churn_label = 1` when the user has
    /// no active day in (d + horizon_days, d + horizon_days + inactive_days].
    pub horizon_days: u32,
    /// How long the user stays away after the horizon, in days.
    pub inactive_days: u32,
    /// The `active` population: an active day in this many days ending on d.
    pub recent_days: u32,
    /// Training and scoring population.
    pub population: Population,
}

impl Default for LabelsConfig {
    fn default() -> Self {
        LabelsConfig {
            horizon_days: 30,
            inactive_days: 30,
            recent_days: 7,
            population: Population::Active,
        }
    }
}

impl LabelsConfig {
    /// Days a label looks ahead of its as-of day: horizon + inactive. Also
    /// the least purge gap between the last train and the first test date.
    pub fn look_ahead_days(&self) -> u32 {
        self.horizon_days + self.inactive_days
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// The last share of the labelled as-of dates that is the test window.
    pub test_fraction: f64,
    /// Inverse L2 strength, as scikit-learn's C.
    pub c: f64,
    pub max_iter: u32,
    /// Class weights of the objective; "balanced" scores are prior-corrected.
    pub class_weight: ClassWeight,
    /// User-clustered bootstrap resamples for the metrics' 95% intervals
    /// (0: no intervals).
    pub bootstrap: u32,
    /// Train on at most the last this many as-of dates before the purge gap
    /// (0: every labelled date): a rolling window, so that a retrain learns
    /// the world as it is now.
    pub window_days: u32,
    /// Fit on one as-of date in this many per user, each user from an
    /// offset of its own (seeded): 1 every date; 0 (default) the smallest
    /// step that keeps at most `max_rows` training rows and at most
    /// `max_values` values in memory. The test metrics always use every
    /// test row.
    pub as_of_every_days: u32,
    /// The most training rows a fit holds when `as_of_every_days` is 0.
    pub max_rows: u64,
    /// The most values the training rows take in memory when
    /// `as_of_every_days` is 0: rows × (the numeric columns read + the most
    /// terms the fit can make of them), 8 bytes each. The day terms and the
    /// log1p terms nearly triple a row's terms, so a row budget alone let
    /// train at 1,000,000 users reach 13.7 GB (bench/README.md).
    pub max_values: u64,
    /// Beside each count or amount, a log1p term (ln(1 + x)), fitted on the
    /// training rows and stored with the model (bench/transforms.sh
    /// measures what it earns on a user-grouped validation split).
    pub log1p: bool,
    /// The day terms of `active_day_bits`: whether the user was active on
    /// each of the last 21 days, and each of those times the lifetime
    /// activity rate (bench/transforms.sh's "days" candidate measures them).
    pub day_bits: bool,
}

/// The seed of the per-user offsets of `train.as_of_every_days`.
pub const SAMPLE_SEED: u64 = 20_240_601;

impl TrainConfig {
    /// The sampling step for `available` training rows of
    /// `values_per_row` values each (see `max_values`).
    pub fn every_days(&self, available: u64, values_per_row: u64) -> u32 {
        match self.as_of_every_days {
            0 => available
                .div_ceil(self.max_rows.max(1))
                .max(
                    available
                        .saturating_mul(values_per_row)
                        .div_ceil(self.max_values.max(1)),
                )
                .max(1)
                .min(u64::from(u32::MAX)) as u32,
            every => every,
        }
    }
}

/// scikit-learn's `class_weight`: `None` (every row weighs 1, so
/// `churn_risk` is a calibrated probability) or "balanced" (each class
/// weighs n / (2 n_class); the intercept is then shifted by the training
/// log-odds, so the score is a probability again).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassWeight {
    None,
    Balanced,
}

impl ClassWeight {
    pub fn as_str(self) -> &'static str {
        match self {
            ClassWeight::None => "none",
            ClassWeight::Balanced => "balanced",
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            test_fraction: 0.2,
            c: 1.0,
            max_iter: 500,
            class_weight: ClassWeight::None,
            bootstrap: 200,
            window_days: 0,
            as_of_every_days: 0,
            max_rows: 8_000_000,
            max_values: 800_000_000,
            log1p: true,
            day_bits: true,
        }
    }
}

/// The promotion gate (docs/design.md §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromoteConfig {
    /// PR-AUC gain a candidate needs over production, on the same rows.
    pub min_improvement: f64,
    /// PR-AUC gain a candidate needs over the best single input.
    pub min_lift_over_baseline: f64,
    /// Which figure of that gain must reach `min_lift_over_baseline`.
    pub lift: LiftGate,
    /// Largest expected calibration error a candidate may have.
    pub max_ece: f64,
}

/// The figure of the lift over the best single input that the promotion
/// gate reads (`promote.lift`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiftGate {
    /// The lower end of its 95% bootstrap interval: a model whose lift
    /// could be no lift at all is not served.
    #[default]
    LowerBound,
    /// The lift measured on the test rows.
    Point,
}

impl LiftGate {
    pub fn as_str(self) -> &'static str {
        match self {
            LiftGate::LowerBound => "lower_bound",
            LiftGate::Point => "point",
        }
    }
}

impl Default for PromoteConfig {
    fn default() -> Self {
        PromoteConfig {
            min_improvement: 0.0,
            min_lift_over_baseline: 0.01,
            lift: LiftGate::LowerBound,
            max_ece: 0.05,
        }
    }
}

/// Realised performance (the evaluate stage).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// evaluate FAILs when production's realised PR-AUC falls more than
    /// this below its test PR-AUC.
    pub max_pr_auc_drop: f64,
    /// The realised PR-AUC that decides pools the production model's last
    /// this many days of matured predictions (one day of a few thousand
    /// users is too noisy to judge).
    pub window_days: u32,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            max_pr_auc_drop: 0.05,
            window_days: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DriftConfig {
    pub bins: u32,
    pub warn_psi: f64,
    pub fail_psi: f64,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            bins: 10,
            warn_psi: 0.1,
            fail_psi: 0.25,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Where `churn serve` listens: loopback by default; the image and
    /// Kubernetes set 0.0.0.0:8000.
    pub addr: String,
    /// Bearer token of /report, /model and /users/{id}/risk (empty: open).
    /// Give it through the environment (CHURN_SERVE_TOKEN, from a Secret).
    pub token: String,
    /// A file holding the token (a mounted Kubernetes Secret), read at start
    /// and preferred to `token`; set but unreadable or empty, the server
    /// refuses to start (exit 3).
    pub token_file: String,
    pub reload_interval_s: u64,
    /// A client must send its request headers within this many seconds.
    pub header_timeout_s: f64,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            addr: "127.0.0.1:8000".to_string(),
            token: String::new(),
            token_file: String::new(),
            reload_interval_s: 30,
            header_timeout_s: 10.0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// How long to keep retrying while another process holds the file.
    pub lock_timeout_s: f64,
    /// DuckDB's memory limit, e.g. "8GB"; empty: 40% of the machine's
    /// memory, leaving the rest to the Rust side (the model's matrices).
    pub memory_limit: String,
    /// DuckDB's worker threads; 0: one per core.
    pub threads: u32,
    /// Where DuckDB spills what does not fit; empty: `<db file>.tmp/` beside
    /// the database file.
    pub temp_directory: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            lock_timeout_s: 10.0,
            memory_limit: String::new(),
            threads: 0,
            temp_directory: String::new(),
        }
    }
}

impl DriftScenario {
    /// Whether the churn driver switches on `start_day`.
    pub fn switches_churn_driver(&self) -> bool {
        self.churn_driver != ChurnDriver::Disengagement
    }
}

/// Overrides given as command-line flags (the highest precedence).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub users: Option<u32>,
    pub days: Option<u32>,
    pub start_date: Option<NaiveDate>,
    pub seed: Option<u64>,
}

impl Config {
    /// The rolling windows, sorted and without duplicates.
    pub fn windows(&self) -> Vec<u32> {
        let mut w = self.features.windows.clone();
        w.sort_unstable();
        w.dedup();
        w
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `CHURN_*` variables as `Config::load` takes them (the tests of load
    /// and validate use it too).
    pub(crate) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_design_defaults() {
        let c = Config::load(None, vec![], &Overrides::default()).unwrap();
        assert_eq!(c.generate.users, 2000);
        assert_eq!(c.generate.days, 240);
        assert_eq!(c.generate.churn_base_rate, 0.05);
        assert_eq!(
            (
                c.labels.horizon_days,
                c.labels.inactive_days,
                c.labels.recent_days
            ),
            (30, 30, 7)
        );
        assert_eq!(c.generate.start_date.to_string(), "2026-01-01");
        assert_eq!(c.features.windows, vec![7, 14, 30]);
        assert_eq!(c.labels.population, Population::Active);
        assert_eq!(c.train.max_iter, 500);
        assert_eq!(c.train.class_weight, ClassWeight::None);
        assert_eq!(c.train.bootstrap, 200);
        assert_eq!(
            (c.promote.min_lift_over_baseline, c.promote.max_ece),
            (0.01, 0.05)
        );
        assert_eq!(c.promote.lift, LiftGate::LowerBound);
        assert_eq!(c.monitor.max_pr_auc_drop, 0.05);
        assert_eq!(c.serve.addr, "127.0.0.1:8000");
    }

    #[test]
    fn the_sampling_step_keeps_at_most_max_rows_and_max_values() {
        let mut t = TrainConfig::default();
        // Auto: the smallest step that keeps at most max_rows rows (narrow
        // rows: 10 values each, 80 M at 8 M rows, within max_values).
        assert_eq!(t.every_days(0, 10), 1);
        assert_eq!(t.every_days(8_000_000, 10), 1);
        assert_eq!(t.every_days(8_000_001, 10), 2);
        assert_eq!(t.every_days(100_000_000, 10), 13);
        assert!(100_000_000u64.div_ceil(13) <= t.max_rows && 100_000_000u64.div_ceil(12) > t.max_rows);
        // Wide rows: the values decide. The default training window of
        // 1,000,000 users, 59.0 M rows of 193 values (51 columns, 142 terms
        // at most), keeps one date in 15: 3.93 M rows, 759 M values; one in
        // 14 would hold 814 M.
        assert_eq!(t.every_days(59_014_515, 193), 15);
        assert!(59_014_515u64.div_ceil(15) * 193 <= t.max_values);
        assert!(59_014_515u64.div_ceil(14) * 193 > t.max_values);
        // 20,000 users' 1.18 M rows fit whole; 100,000 users' 5.9 M do not.
        assert_eq!(t.every_days(1_179_008, 193), 1);
        assert_eq!(t.every_days(5_900_000, 193), 2);
        // A step given is kept whatever the rows.
        t.as_of_every_days = 7;
        assert_eq!(t.every_days(10, 193), 7);
        t.as_of_every_days = 1;
        assert_eq!(t.every_days(100_000_000, 193), 1);
        for key in ["MAX_ROWS", "MAX_VALUES"] {
            let var = format!("CHURN_TRAIN_{key}");
            let bad = Config::load(None, env(&[(var.as_str(), "0")]), &Overrides::default());
            let message = bad.unwrap_err().to_string();
            assert!(
                message.contains(&format!("train.{}", key.to_lowercase())),
                "{message}"
            );
        }
    }
}
