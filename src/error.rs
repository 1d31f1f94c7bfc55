//! One error type for the whole binary, and the one place where errors become
//! exit codes (docs/design.md §5: 0 ok, 1 failure, 2 monitoring FAIL (drift or realised
//! performance), 3 usage/config).

use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Wrong command-line usage, or a stage that does not exist yet.
    #[error("{0}")]
    Usage(String),

    /// A bad configuration value, file or environment variable.
    #[error("configuration error: {0}")]
    Config(String),

    /// A stage's input is missing: the message names the stage to run first.
    #[error("{0}")]
    MissingInput(String),

    /// Input data refused (ingest), with the file, row and column named.
    #[error("{0}")]
    BadInput(String),

    /// Validation found error-level failures; the results are stored.
    #[error("validation failed: {0}")]
    ValidationFailed(String),

    /// The first candidate failed the promotion gate: no model is served.
    /// The decision is stored.
    #[error("model rejected: {0}")]
    ModelRejected(String),

    /// The evaluate stage found the production model's realised PR-AUC
    /// fallen too far; the results are stored.
    #[error("realised performance FAIL: {0}")]
    PerformanceFail(String),

    /// The drift stage measured a FAIL; the results are stored.
    #[error("drift FAIL: {0}")]
    DriftFail(String),

    /// Another process holds the database file past the retry bound.
    #[error(
        "database {path} is locked by another process ({detail}); waited {waited_s:.1} s. \
         DuckDB allows one writer at a time: wait for the other churn command to finish \
         (or stop it), or point --db at another file"
    )]
    Locked {
        path: PathBuf,
        detail: String,
        waited_s: f64,
    },

    /// A DuckDB error, with what we were doing when it happened.
    #[error("{context}: {source}")]
    Db {
        context: String,
        #[source]
        source: duckdb::Error,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("SQL template {name}: {source}")]
    Template {
        name: String,
        #[source]
        source: minijinja::Error,
    },

    /// The model could not be fitted.
    #[error("fitting the model: {0}")]
    Fit(#[from] FitError),

    /// The model's data could not be split, measured or profiled.
    #[error("{0}")]
    Model(#[from] ModelError),

    /// DuckDB ran out of memory: the message names the settings to change.
    #[error("{0}")]
    OutOfMemory(String),

    /// A table changed under a stage that was reading it in several passes
    /// (another writer, which DuckDB's one-writer lock should prevent).
    #[error("{table} changed while it was being read; run the stage again")]
    Changed { table: String },

    /// A table holds rows a stage cannot read: the message names them and
    /// the stage that rebuilds them.
    #[error("{0}")]
    Corrupt(String),

    /// churn's own query returned what it cannot: a bug to report, not a
    /// state of the file to repair.
    #[error("{0} (a bug in churn: please report it)")]
    Internal(String),

    /// Building an Arrow batch for DuckDB's appender.
    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: duckdb::arrow::error::ArrowError,
    },

    /// Reading or writing JSON (a stored config, a manifest, a report).
    #[error("{context}: {source}")]
    Json {
        context: String,
        #[source]
        source: serde_json::Error,
    },

    /// `churn probe`: the endpoint did not answer as a healthy API does.
    #[error("probe {url}: {what}")]
    Probe { url: String, what: String },
}

impl Error {
    /// The process exit code for this error.
    pub fn code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::Config(_) => 3,
            Error::DriftFail(_) | Error::PerformanceFail(_) => 2,
            _ => 1,
        }
    }
}

/// Adds "what we were doing" to DuckDB, Arrow, JSON and I/O errors.
pub trait Context<T> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, duckdb::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| {
            let context = what();
            if source.to_string().contains("Out of Memory") {
                return Error::OutOfMemory(format!(
                    "{context}: DuckDB ran out of memory ({source}); raise store.memory_limit \
                     (CHURN_STORE_MEMORY_LIMIT, default 40% of the machine), lower store.threads, or give \
                     store.temp_directory a disk with room to spill"
                ));
            }
            Error::Db { context, source }
        })
    }
}

impl<T> Context<T> for std::result::Result<T, duckdb::arrow::error::ArrowError> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Arrow {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, serde_json::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Json {
            context: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, std::io::Error> {
    fn context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_out_of_memory_names_the_settings() {
        let conn = duckdb::Connection::open_in_memory().unwrap();
        conn.execute_batch("set memory_limit = '8MB'; set threads = 1")
            .unwrap();
        // One list of ten million numbers cannot spill.
        let err = conn
            .query_row("select len(list(range)) from range(10000000)", [], |r| {
                r.get::<_, i64>(0)
            })
            .context(|| "features: building the windows".into())
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::OutOfMemory(_)), "{text}");
        assert!(text.starts_with("features: building the windows"), "{text}");
        assert!(
            text.contains("store.memory_limit") && text.contains("store.threads"),
            "{text}"
        );
        assert_eq!(err.code(), 1);
    }
}

/// Why a fit could not be made: the inputs, or the solver.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("train.c must be a positive number, got {0}")]
    BadC(f64),
    #[error("train.max_iter must be at least 1")]
    BadMaxIter,
    #[error("the tolerance must be a positive number, got {0}")]
    BadTol(f64),
    #[error("the design matrix has {rows} rows but there are {labels} labels")]
    Shape { rows: usize, labels: usize },
    #[error("there are no training rows: generate or ingest more days of data")]
    NoRows,
    #[error("labels must be 0 or 1, found {0}")]
    BadLabel(f64),
    #[error("the design matrix holds a non-finite value")]
    NonFinite,
    #[error(
        "the training rows hold one class only ({positive} positive, {negative} negative); a classifier needs \
         both: use more days of data or another population"
    )]
    OneClass { positive: usize, negative: usize },
    #[error("the preconditioner is not positive definite at input {0}; check the design matrix")]
    NotPositiveDefinite(usize),
    #[error("L-BFGS: {0}")]
    Solver(String),
}

/// Why the model's rows could not be split by date, measured, or binned for
/// drift (`src/model/`): each names what to change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ModelError {
    #[error(
        "the training set spans {dates} as-of date(s); a time split needs at least two: generate or ingest \
         more days"
    )]
    TooFewDates { dates: usize },
    #[error(
        "no as-of date is left for training: the test period starts on day {test_starts} of {dates} and the \
         purge gap is {purge_days} days (labels.horizon_days + labels.inactive_days); use more days of data \
         or a smaller train.test_fraction"
    )]
    NoTrainDates {
        test_starts: usize,
        dates: usize,
        purge_days: u32,
    },
    #[error("{labels} labels but {scores} scores")]
    Lengths { labels: usize, scores: usize },
    #[error("the test set is empty: no metric can be computed")]
    EmptyTestSet,
    #[error("a score is not finite")]
    NonFiniteScore,
    #[error(
        "the test set holds one class only ({positives} positive of {total}): PR-AUC and ROC-AUC are \
         undefined; use more days of data or a larger test_fraction"
    )]
    OneClassTest { positives: usize, total: usize },
    #[error("drift: the reference rows lack column {0}")]
    ReferenceColumn(String),
    #[error("drift: {0} is not a categorical input")]
    NotCategorical(String),
    #[error(
        "the stored reference profile is inconsistent (inputs count different rows: {0}); delete its rows \
         from model_reference_bins and run drift again to rebuild it"
    )]
    InconsistentProfile(String),
}
