//! SIGTERM and SIGINT for the batch commands: the command stops at once
//! with a message and exit code 143 or 130. A signal during a COMMIT waits
//! for it to end, and the message says whether the stage was kept. An open
//! transaction is never committed, so the file keeps its previous state (and any bulk rows the
//! engine wrote ahead are removed at the next open, see `db`). `churn
//! serve` handles the signals itself: it drains requests in flight.

use std::sync::Once;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Starts a thread that ends the process on SIGTERM (143) or SIGINT (130).
/// As PID 1 in a container, where the kernel ignores a signal without a
/// handler, this is what makes `docker stop` and Kubernetes work.
pub fn exit_on_interrupt() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let Ok(mut signals) = Signals::new([SIGTERM, SIGINT]) else {
            tracing::warn!("could not install the SIGTERM/SIGINT handler");
            return;
        };
        std::thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                let (name, code) = if signal == SIGTERM {
                    ("SIGTERM", 143)
                } else {
                    ("SIGINT", 130)
                };
                // Waits for a COMMIT in progress, so that what is said is true.
                let state = crate::store::commit_state();
                if state.committed {
                    eprintln!(
                        "churn: stopped by {name} after {} committed: its results are kept (do not run it \
                         again: a load would be added twice); the stages after it did not run",
                        state.stage.unwrap_or("the last stage")
                    );
                } else {
                    let stage = crate::stages::failed_stage();
                    eprintln!(
                        "churn: stopped by {name}{}; nothing of the interrupted stage is kept (its \
                         transaction was not committed), rerun the command to finish",
                        stage.map_or(String::new(), |s| format!(" during {s}"))
                    );
                }
                // No destructors: the open transaction must not commit, and
                // other threads may be inside DuckDB.
                unsafe { libc::_exit(code) };
            }
        });
    });
}
