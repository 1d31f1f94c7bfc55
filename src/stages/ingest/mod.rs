//! ingest: your own data into the store, as one load (docs/design.md §1):
//! users and events files (`files.rs`), a bare purchase log
//! (`transactions.rs`), or a scored slice another engine wrote
//! (`predictions.rs`). Every refusal names the file, the line (CSV) or row
//! (Parquet) and the column; the tables change only when the load completes
//! (one transaction).

mod files;
mod predictions;
mod transactions;

use duckdb::Connection;

pub use files::{IngestMode, run};
pub use predictions::predictions;
pub use transactions::{Transactions, transactions};

use crate::error::{Error, Result};
use crate::stages::{Ctx, Outcome, StageDef};

/// What an ingest loads.
#[derive(Debug, Clone)]
pub enum Source {
    /// Users and events files, replacing or added to the stored ones.
    Files {
        users: std::path::PathBuf,
        events: std::path::PathBuf,
        mode: IngestMode,
    },
    /// A bare purchase log, replacing users and events.
    Transactions(Transactions),
    /// A scored slice another engine wrote.
    Predictions(String),
}

/// The ingest stage (docs/design.md §1): a load of your files.
#[derive(Debug, Default)]
pub struct Ingest {
    /// None: the catalogue's entry, which has no files to read.
    pub source: Option<Source>,
}

impl StageDef for Ingest {
    fn name(&self) -> &'static str {
        "ingest"
    }

    fn writes(&self) -> &'static [&'static str] {
        match self.source {
            Some(Source::Predictions(_)) => &["predictions", "prediction_reasons"],
            _ => &["users", "events"],
        }
    }

    fn is_load(&self) -> bool {
        true
    }

    fn run(&self, conn: &Connection, ctx: &Ctx<'_>) -> Result<Outcome> {
        let load_id = ctx.load_id(self.name());
        match &self.source {
            Some(Source::Files { users, events, mode }) => run(conn, users, events, *mode, &load_id),
            Some(Source::Transactions(t)) => transactions(conn, t, &load_id),
            Some(Source::Predictions(source)) => predictions(conn, source, &load_id),
            None => Err(Error::Usage(
                "ingest reads your files: use `churn ingest --users FILE --events FILE`".into(),
            )),
        }
    }
}
