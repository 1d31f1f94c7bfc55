//! Settings: one `Config`, defaults in code, merged as
//! flag > environment (`CHURN_<SECTION>_<KEY>`) > TOML file > default.

use std::path::Path;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ValidateConfig {
    /// Per check (the file name under sql/validate/, without .sql), a
    /// severity in place of the check's own: e.g. a purchase log with free
    /// items sets `severity.events_payment_amount_positive = "warn"`.
    pub severity: std::collections::BTreeMap<String, Severity>,
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
    /// step that keeps at most `max_rows` training rows. The test metrics
    /// always use every test row.
    pub as_of_every_days: u32,
    /// The most training rows a fit holds when `as_of_every_days` is 0.
    pub max_rows: u64,
}

/// The seed of the per-user offsets of `train.as_of_every_days`.
pub const SAMPLE_SEED: u64 = 20_240_601;

impl TrainConfig {
    /// The sampling step for `available` training rows.
    pub fn every_days(&self, available: u64) -> u32 {
        match self.as_of_every_days {
            0 => available
                .div_ceil(self.max_rows.max(1))
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
        }
    }
}

/// The promotion gate (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromoteConfig {
    /// PR-AUC gain a candidate needs over production, on the same rows.
    pub min_improvement: f64,
    /// PR-AUC gain a candidate needs over the best single input.
    pub min_lift_over_baseline: f64,
    /// Largest expected calibration error a candidate may have.
    pub max_ece: f64,
}

impl Default for PromoteConfig {
    fn default() -> Self {
        PromoteConfig {
            min_improvement: 0.0,
            min_lift_over_baseline: 0.01,
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
    /// A file holding the token (a mounted Kubernetes Secret); read at
    /// start when set and present, and preferred to `token`.
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

impl StoreConfig {
    /// The memory limit to give DuckDB: the setting, or 40% of the machine.
    pub fn effective_memory_limit(&self) -> String {
        if !self.memory_limit.trim().is_empty() {
            return self.memory_limit.trim().to_string();
        }
        format!("{}MB", machine_memory() / 10 * 4 / (1 << 20))
    }

    /// DuckDB's memory limit in the stages whose work is in Rust (train,
    /// promote, score, drift, the served report): there DuckDB only streams rows out, and a cache the
    /// size of `effective_memory_limit` would sit beside the model's
    /// matrices (at a million users, 9.6 GB of cached blocks beside 5 GB of
    /// training rows). A tenth of the machine (or pod), at least 256 MB; `None` when
    /// `store.memory_limit` is set (the operator's figure is kept).
    pub fn streaming_memory_limit(&self) -> Option<String> {
        if !self.memory_limit.trim().is_empty() {
            return None;
        }
        Some(format!(
            "{}MB",
            (machine_memory() / 10).max(256 << 20) / (1 << 20)
        ))
    }
}

/// The machine's memory in bytes, or the container's cgroup limit when
/// that is lower (v2, then v1).
fn machine_memory() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or(8 << 30, |kb| kb * 1024);
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .and_then(|v| v.trim().parse::<u64>().ok());
    memory_share(total, cgroup)
}

/// The machine's memory, or the cgroup's limit when that is lower (a limit
/// of "max" or v1's huge number means none).
fn memory_share(total_bytes: u64, cgroup_bytes: Option<u64>) -> u64 {
    cgroup_bytes.map_or(total_bytes, |c| c.min(total_bytes))
}

/// Keys that were removed, with what replaced them: a config that still
/// sets one gets this answer instead of a bare "unknown field".
const REPLACED_KEYS: [(&str, &str, &str); 2] = [
    (
        "labels",
        "window_days",
        "labels.window_days was replaced by labels.horizon_days (the user leaves within it, default 30) \
         and labels.inactive_days (and stays away this long after it, default 30)",
    ),
    (
        "train",
        "purge",
        "train.purge was removed: the purge gap between train and test dates is always \
         labels.horizon_days + labels.inactive_days",
    ),
];

fn replaced_key(section: &str, key: &str) -> Option<&'static str> {
    REPLACED_KEYS
        .iter()
        .find(|(s, k, _)| *s == section && *k == key)
        .map(|(_, _, why)| *why)
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
    /// Loads defaults, then the file (if any), then `CHURN_*` variables from
    /// `env`, then the flags; validates the result.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        flags: &Overrides,
    ) -> Result<Config> {
        let mut table = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::Config(format!(
                        "cannot read config file {}: {e}; check the path given with --config or CHURN_CONFIG",
                        path.display()
                    ))
                })?;
                let table: toml::Table = toml::from_str(&text)
                    .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))?;
                for (section, keys) in &table {
                    for key in keys.as_table().map(|t| t.keys().collect()).unwrap_or(Vec::new()) {
                        if let Some(why) = replaced_key(section, key) {
                            return Err(Error::Config(format!("{}: {why}", path.display())));
                        }
                    }
                }
                // Deserialize once on the file alone so an unknown key is
                // reported against the file, with its name.
                Config::from_table(table.clone()).map_err(|e| {
                    let why = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
                    Error::Config(format!(
                        "{}: {why}; see churn.example.toml for every key",
                        path.display()
                    ))
                })?;
                table
            }
            None => toml::Table::new(),
        };
        apply_env(&mut table, env)?;
        let mut config = Config::from_table(table).map_err(|e| Error::Config(e.to_string()))?;
        config.apply(flags);
        config.validate()?;
        Ok(config)
    }

    fn from_table(table: toml::Table) -> std::result::Result<Config, toml::de::Error> {
        toml::Value::Table(table).try_into()
    }

    fn apply(&mut self, flags: &Overrides) {
        let g = &mut self.generate;
        if let Some(v) = flags.users {
            g.users = v;
        }
        if let Some(v) = flags.days {
            g.days = v;
        }
        if let Some(v) = flags.start_date {
            g.start_date = v;
        }
        if let Some(v) = flags.seed {
            g.seed = v;
        }
    }

    /// Checks value ranges; every message names the key and the accepted range.
    pub fn validate(&self) -> Result<()> {
        let bad = |key: &str, why: String| Err(Error::Config(format!("{key} {why}")));
        let g = &self.generate;
        if g.users == 0 {
            return bad("generate.users", "must be at least 1".into());
        }
        if g.days == 0 {
            return bad("generate.days", "must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&g.paid_ratio) {
            return bad(
                "generate.paid_ratio",
                format!("must be between 0 and 1, got {}", g.paid_ratio),
            );
        }
        if !(0.0..=0.9).contains(&g.churn_base_rate) {
            return bad(
                "generate.churn_base_rate",
                format!(
                    "must be between 0 and 0.9 (a mean 30-day churn probability), got {}",
                    g.churn_base_rate
                ),
            );
        }
        let s = &g.drift;
        for (key, v) in [
            ("generate.drift.activity_multiplier", s.activity_multiplier),
            (
                "generate.drift.watch_minutes_multiplier",
                s.watch_minutes_multiplier,
            ),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(key, format!("must be a number of at least 0, got {v}"));
            }
        }
        if let Some(r) = s.paid_ratio.filter(|r| !(0.0..=1.0).contains(r)) {
            return bad(
                "generate.drift.paid_ratio",
                format!("must be between 0 and 1, got {r}"),
            );
        }
        let checks: Vec<&str> = crate::sql::names_under("validate/")
            .map(|n| n.trim_start_matches("validate/").trim_end_matches(".sql"))
            .collect();
        if let Some(unknown) = self
            .validate
            .severity
            .keys()
            .find(|k| !checks.contains(&k.as_str()))
        {
            return bad(
                &format!("validate.severity.{unknown}"),
                format!("names no check; the checks are: {}", checks.join(", ")),
            );
        }
        let w = &self.features.windows;
        if w.is_empty() || w.contains(&0) {
            return bad(
                "features.windows",
                format!("must be a non-empty list of positive days, got {w:?}"),
            );
        }
        let l = &self.labels;
        for (key, v) in [
            ("labels.horizon_days", l.horizon_days),
            ("labels.inactive_days", l.inactive_days),
            ("labels.recent_days", l.recent_days),
        ] {
            if v == 0 {
                return bad(key, "must be at least 1".into());
            }
        }
        let t = &self.train;
        if !(t.test_fraction > 0.0 && t.test_fraction < 1.0) {
            return bad(
                "train.test_fraction",
                format!("must be strictly between 0 and 1, got {}", t.test_fraction),
            );
        }
        if !(t.c.is_finite() && t.c > 0.0) {
            return bad("train.c", format!("must be a positive number, got {}", t.c));
        }
        if t.max_iter == 0 {
            return bad("train.max_iter", "must be at least 1".into());
        }
        if t.max_rows == 0 {
            return bad(
                "train.max_rows",
                "must be at least 1 (the most training rows a fit holds)".into(),
            );
        }
        let pr = &self.promote;
        for (key, v) in [
            ("promote.min_improvement", pr.min_improvement),
            ("promote.min_lift_over_baseline", pr.min_lift_over_baseline),
        ] {
            if !(v.is_finite() && (-1.0..=1.0).contains(&v)) {
                return bad(
                    key,
                    format!("must be a PR-AUC difference between -1 and 1, got {v}"),
                );
            }
        }
        if !(pr.max_ece.is_finite() && (0.0..=1.0).contains(&pr.max_ece)) {
            return bad(
                "promote.max_ece",
                format!("must be between 0 and 1, got {}", pr.max_ece),
            );
        }
        if self.monitor.window_days == 0 {
            return bad("monitor.window_days", "must be at least 1".into());
        }
        let drop = self.monitor.max_pr_auc_drop;
        if !(drop.is_finite() && (0.0..=1.0).contains(&drop)) {
            return bad(
                "monitor.max_pr_auc_drop",
                format!("must be between 0 and 1, got {drop}"),
            );
        }
        let d = &self.drift;
        if d.bins < 2 {
            return bad("drift.bins", format!("must be at least 2, got {}", d.bins));
        }
        if !(d.warn_psi > 0.0 && d.warn_psi < d.fail_psi) {
            return bad(
                "drift.warn_psi",
                format!(
                    "must be positive and below drift.fail_psi, got {} and {}",
                    d.warn_psi, d.fail_psi
                ),
            );
        }
        let h = self.serve.header_timeout_s;
        if !(h.is_finite() && h > 0.0) {
            return bad(
                "serve.header_timeout_s",
                format!("must be a positive number of seconds, got {h}"),
            );
        }
        let m = self.store.memory_limit.trim();
        let valid_size = m.is_empty() || {
            let digits = m.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == ' ');
            let unit = m[digits.len()..].trim().to_ascii_uppercase();
            digits.parse::<f64>().is_ok_and(|v| v > 0.0)
                && ["B", "KB", "MB", "GB", "TB", "KIB", "MIB", "GIB", "TIB"].contains(&unit.as_str())
        };
        if !valid_size {
            return bad(
                "store.memory_limit",
                format!(
                    "must be a size like \"8GB\" or \"512MB\" (or empty for 40% of the memory), got {m:?}"
                ),
            );
        }
        if !(self.store.lock_timeout_s.is_finite() && self.store.lock_timeout_s >= 0.0) {
            return bad("store.lock_timeout_s", "must be zero or more seconds".into());
        }
        Ok(())
    }

    /// The rolling windows, sorted and without duplicates.
    pub fn windows(&self) -> Vec<u32> {
        let mut w = self.features.windows.clone();
        w.sort_unstable();
        w.dedup();
        w
    }
}

/// Overlays `CHURN_<SECTION>_<KEY>` variables onto the file's table. A
/// variable that names a known section but no key of it is refused.
fn apply_env(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Result<()> {
    let defaults = toml::Table::try_from(Config::default()).expect("defaults serialize");
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("CHURN_") else {
            continue;
        };
        let Some((section, keys)) = defaults.iter().find_map(|(section, keys)| {
            let prefix = format!("{}_", section.to_uppercase());
            rest.strip_prefix(prefix.as_str())
                .map(|key| (section, (key, keys)))
        }) else {
            continue;
        };
        let (key_upper, keys) = keys;
        if let Some(why) = REPLACED_KEYS
            .iter()
            .find(|(s, k, _)| s == section && k.to_uppercase() == key_upper)
            .map(|(_, _, why)| why)
        {
            return Err(Error::Config(format!("environment variable {name}: {why}")));
        }
        let keys = keys.as_table().expect("sections are tables");
        let Some((key, default)) = keys
            .iter()
            .find(|(k, v)| k.to_uppercase() == key_upper && !v.is_table())
        else {
            let known: Vec<String> = keys
                .keys()
                .map(|k| format!("CHURN_{}_{}", section.to_uppercase(), k.to_uppercase()))
                .collect();
            return Err(Error::Config(format!(
                "environment variable {name} names no setting; the [{section}] settings are {}",
                known.join(", ")
            )));
        };
        let value = parse_env_value(&raw, default).ok_or_else(|| {
            Error::Config(format!(
                "environment variable {name}={raw:?} is not a valid {} for {section}.{key}",
                default.type_str()
            ))
        })?;
        table
            .entry(section.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .ok_or_else(|| Error::Config(format!("[{section}] in the config file must be a table")))?
            .insert(key.clone(), value);
    }
    Ok(())
}

/// Reads an environment value as the type of the default it replaces:
/// strings (and dates) as they are, everything else as a TOML value.
fn parse_env_value(raw: &str, default: &toml::Value) -> Option<toml::Value> {
    if default.is_str() {
        return Some(toml::Value::String(raw.to_string()));
    }
    let parsed: toml::Table = toml::from_str(&format!("v = {raw}")).ok()?;
    let v = parsed.get("v")?.clone();
    let same = std::mem::discriminant(&v) == std::mem::discriminant(default)
        || (default.is_float() && v.is_integer());
    same.then(|| match v {
        toml::Value::Integer(i) if default.is_float() => toml::Value::Float(i as f64),
        v => v,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn example_file_lists_the_defaults() {
        let table: toml::Table = toml::from_str(include_str!("../churn.example.toml")).unwrap();
        let from_file = Config::from_table(table.clone()).unwrap();
        assert_eq!(from_file, Config::default());
        let defaults = toml::Table::try_from(Config::default()).unwrap();
        for (section, keys) in &defaults {
            for key in keys.as_table().unwrap().keys() {
                assert!(
                    table[section].get(key).is_some(),
                    "churn.example.toml lacks {section}.{key}"
                );
            }
        }
    }

    #[test]
    fn the_memory_share_follows_a_container_limit() {
        let gib = 1u64 << 30;
        assert_eq!(memory_share(10 * gib, None), 10 * gib);
        assert_eq!(memory_share(10 * gib, Some(5 * gib)), 5 * gib);
        // cgroup v1 without a limit reports a number beyond the machine.
        assert_eq!(memory_share(10 * gib, Some(u64::MAX / 2)), 10 * gib);
        let s = StoreConfig::default();
        let mb = |v: String| v.trim_end_matches("MB").parse::<u64>().unwrap();
        let (all, streaming) = (
            mb(s.effective_memory_limit()),
            mb(s.streaming_memory_limit().unwrap()),
        );
        assert!(
            streaming >= 256 && streaming < all.max(257),
            "{streaming} MB vs {all} MB"
        );
        let set = StoreConfig {
            memory_limit: " 6GB ".into(),
            ..StoreConfig::default()
        };
        assert_eq!(set.effective_memory_limit(), "6GB");
        assert_eq!(set.streaming_memory_limit(), None);
    }

    #[test]
    fn the_sampling_step_keeps_at_most_max_rows() {
        let mut t = TrainConfig::default();
        // Auto: the smallest step that keeps at most max_rows rows.
        assert_eq!(t.every_days(0), 1);
        assert_eq!(t.every_days(8_000_000), 1);
        assert_eq!(t.every_days(8_000_001), 2);
        assert_eq!(t.every_days(100_000_000), 13);
        assert!(100_000_000u64.div_ceil(13) <= t.max_rows && 100_000_000u64.div_ceil(12) > t.max_rows);
        // A step given is kept whatever the rows.
        t.as_of_every_days = 7;
        assert_eq!(t.every_days(10), 7);
        t.as_of_every_days = 1;
        assert_eq!(t.every_days(100_000_000), 1);
        let bad = Config::load(None, env(&[("CHURN_TRAIN_MAX_ROWS", "0")]), &Overrides::default());
        assert!(bad.unwrap_err().to_string().contains("train.max_rows"));
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
        assert_eq!(c.monitor.max_pr_auc_drop, 0.05);
        assert_eq!(c.serve.addr, "127.0.0.1:8000");
    }

    #[test]
    fn precedence_is_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[generate]\nusers = 10\ndays = 20\nseed = 5\n").unwrap();
        let c = Config::load(
            Some(&file),
            env(&[("CHURN_GENERATE_USERS", "30"), ("CHURN_GENERATE_DAYS", "40")]),
            &Overrides {
                users: Some(50),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(c.generate.users, 50, "flag beats env");
        assert_eq!(c.generate.days, 40, "env beats file");
        assert_eq!(c.generate.seed, 5, "file beats default");
        assert_eq!(c.generate.paid_ratio, 0.35, "default");
    }

    #[test]
    fn env_parses_lists_floats_and_enums() {
        let c = Config::load(
            None,
            env(&[
                ("CHURN_FEATURES_WINDOWS", "[3, 10]"),
                ("CHURN_TRAIN_C", "2"),
                ("CHURN_LABELS_POPULATION", "all"),
                ("CHURN_DB", "ignored.duckdb"),
            ]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.features.windows, vec![3, 10]);
        assert_eq!(c.train.c, 2.0);
        assert_eq!(c.labels.population, Population::All);
    }

    #[test]
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[generate]\nusrs = 10\n").unwrap();
        let err = Config::load(Some(&file), vec![], &Overrides::default()).unwrap_err();
        assert_eq!(err.code(), 3);
        assert!(err.to_string().contains("usrs"), "{err}");
        std::fs::write(&file, "[genrate]\nusers = 10\n").unwrap();
        let err = Config::load(Some(&file), vec![], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("genrate"), "{err}");
    }

    #[test]
    fn replaced_keys_say_what_replaced_them() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[labels]\nwindow_days = 30\n").unwrap();
        let err = Config::load(Some(&file), vec![], &Overrides::default()).unwrap_err();
        assert_eq!(err.code(), 3);
        let text = err.to_string();
        assert!(
            text.contains("labels.horizon_days") && text.contains("labels.inactive_days"),
            "{text}"
        );
        let err = Config::load(
            None,
            env(&[("CHURN_LABELS_WINDOW_DAYS", "30")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("labels.horizon_days"), "{err}");
        std::fs::write(&file, "[train]\npurge = false\n").unwrap();
        let err = Config::load(Some(&file), vec![], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("purge gap"), "{err}");
    }

    #[test]
    fn bad_env_values_are_named() {
        let err =
            Config::load(None, env(&[("CHURN_GENERATE_USRS", "1")]), &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("CHURN_GENERATE_USRS"), "{err}");
        let err = Config::load(
            None,
            env(&[("CHURN_GENERATE_USERS", "many")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("generate.users"), "{err}");
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let err = Config::load(
            None,
            env(&[("CHURN_TRAIN_TEST_FRACTION", "1.5")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("train.test_fraction"), "{err}");
        let err = Config::load(
            None,
            env(&[("CHURN_FEATURES_WINDOWS", "[0, 7]")]),
            &Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("features.windows"), "{err}");
    }
}
