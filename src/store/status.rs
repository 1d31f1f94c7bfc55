//! The status columns of the tables, as types: what `models.status`,
//! `drift_runs.status` / `drift_results.status` / `performance_runs.status`
//! and `pipeline_runs.status` may hold. Stored as the same lowercase or
//! uppercase words as before; an unknown word read back is an error that
//! names the column.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident ($column:literal) { $($(#[$vdoc:meta])* $variant:ident = $text:literal),* $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),*
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The word stored in the table.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),*
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("{} holds {s:?}, which this churn does not know", $column))
            }
        }

        impl duckdb::ToSql for $name {
            fn to_sql(&self) -> duckdb::Result<duckdb::types::ToSqlOutput<'_>> {
                Ok(duckdb::types::ToSqlOutput::from(self.as_str()))
            }
        }

        impl duckdb::types::FromSql for $name {
            fn column_result(value: duckdb::types::ValueRef<'_>) -> duckdb::types::FromSqlResult<Self> {
                let text = String::column_result(value)?;
                text.parse()
                    .map_err(|e: String| duckdb::types::FromSqlError::Other(e.into()))
            }
        }
    };
}

status_enum! {
    /// `models.status`: where a model stands in the registry.
    ModelStatus ("models.status") {
        /// Trained, not yet decided.
        Candidate = "candidate",
        /// The one model that scores and serves.
        Production = "production",
        /// Was production, replaced.
        Retired = "retired",
        /// Refused by the promotion gate.
        Rejected = "rejected",
    }
}

status_enum! {
    /// A monitoring verdict, in order of severity: the PSI of an input
    /// (decided once, by `sql/drift/results.sql`), a drift run (its worst
    /// input's) and a realised-performance window (docs/design.md §4).
    Verdict ("drift_results.status") {
        Ok = "OK",
        Warn = "WARN",
        Fail = "FAIL",
    }
}

status_enum! {
    /// `pipeline_runs.status`: how a stage run ended.
    RunStatus ("pipeline_runs.status") {
        /// Ran and found nothing wrong.
        Ok = "ok",
        /// Crashed or was refused; nothing of it was kept.
        Failed = "failed",
        /// validate found error-level violations (results kept).
        Invalid = "invalid",
        /// A monitoring FAIL (drift or realised performance; results kept).
        Alert = "alert",
        /// The promotion gate refused the model (decision kept).
        Rejected = "rejected",
    }
}

status_enum! {
    /// `load_checks.verdict`: validate's word on a load.
    LoadVerdict ("load_checks.verdict") {
        /// No error-level check failed on its rows.
        Passed = "passed",
        /// An error-level check failed: its events are left out of the tables.
        Refused = "refused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_unknown_ones_are_named() {
        for s in ModelStatus::ALL {
            assert_eq!(s.as_str().parse::<ModelStatus>().unwrap(), *s);
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), *s);
        }
        let err = "archived".parse::<ModelStatus>().unwrap_err();
        assert!(err.contains("models.status") && err.contains("archived"), "{err}");
        assert_eq!(serde_json::to_string(&Verdict::Warn).unwrap(), "\"WARN\"");
    }
}
