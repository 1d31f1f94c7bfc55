//! The range checks of the settings: every refusal names the key and the
//! accepted range.

use super::Config;
use crate::error::{Error, Result};

impl Config {
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
        if t.max_values == 0 {
            return bad(
                "train.max_values",
                "must be at least 1 (the most values the training rows take in memory)".into(),
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
}

#[cfg(test)]
mod tests {
    use crate::config::tests::env;
    use crate::config::*;

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
