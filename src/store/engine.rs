//! DuckDB's settings in this process: memory, threads and the spill folder
//! of `[store]` on every connection, and the lowered limit of the stages
//! whose work is in Rust.

use duckdb::Connection;

use crate::config::StoreConfig;

/// The store settings of this process: set once from the config by the
/// command that loaded it (`configure`), the defaults otherwise (tests).
static SETTINGS: std::sync::RwLock<Option<StoreConfig>> = std::sync::RwLock::new(None);

/// Makes `store` the settings of every connection this process opens.
pub fn configure(store: &StoreConfig) {
    *SETTINGS.write().unwrap_or_else(|e| e.into_inner()) = Some(store.clone());
}

pub(super) fn settings() -> StoreConfig {
    SETTINGS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .unwrap_or_default()
}

/// Gives DuckDB the smaller memory limit of the stages whose work is in
/// Rust (`StoreConfig::streaming_memory_limit`): its cached blocks are let
/// go, and the room is the model's. Unchanged when the operator set
/// `store.memory_limit`; a limit the engine cannot reach yet is a warning.
/// The returned guard gives the engine its full limit back when the stage
/// ends, for the SQL stages that may follow on the same connection.
#[must_use = "the limit is restored when the guard is dropped"]
pub fn leave_memory_to_rust<'a>(conn: &'a Connection, stage: &'a str) -> MemoryGuard<'a> {
    let s = settings();
    let lowered = s.streaming_memory_limit().is_some_and(|limit| {
        set_memory_limit(conn, stage, &limit);
        true
    });
    MemoryGuard {
        conn,
        stage,
        full: lowered.then(|| s.effective_memory_limit()),
    }
}

/// Restores DuckDB's full memory limit when dropped (see `leave_memory_to_rust`).
pub struct MemoryGuard<'a> {
    conn: &'a Connection,
    stage: &'a str,
    full: Option<String>,
}

impl Drop for MemoryGuard<'_> {
    fn drop(&mut self) {
        if let Some(limit) = &self.full {
            set_memory_limit(self.conn, self.stage, limit);
        }
    }
}

fn set_memory_limit(conn: &Connection, stage: &str, limit: &str) {
    if let Err(e) = conn.execute_batch(&format!("set memory_limit = '{limit}'")) {
        tracing::warn!(stage, "could not set DuckDB's memory limit to {limit}: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(conn: &Connection) -> String {
        conn.query_row("select current_setting('memory_limit')", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn a_rust_side_stage_lowers_the_engine_limit_and_gives_it_back() {
        // The defaults (no store.memory_limit): 40% of the machine, a tenth
        // inside the guard.
        let conn = Connection::open_in_memory().unwrap();
        let s = StoreConfig::default();
        set_memory_limit(&conn, "test", &s.effective_memory_limit());
        let full = limit(&conn);
        {
            let _memory = leave_memory_to_rust(&conn, "test");
            let lowered = limit(&conn);
            assert_ne!(lowered, full, "the limit inside the guard");
        }
        assert_eq!(limit(&conn), full, "the limit after the guard");
    }
}
