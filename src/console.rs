//! What a command prints for a person on stdout, beside the log on stderr:
//! whether the stages print their detail tables (not under `-q` or
//! `--json`), colour (`--color`, `NO_COLOR`), and the warnings the log
//! carried, kept for the run's summary (a tracing layer).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

static DETAIL: AtomicBool = AtomicBool::new(true);
static COLOR: AtomicBool = AtomicBool::new(false);
static WARNINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// `detail`: stages print their tables (drift, realised performance,
/// failed checks); `color`: ANSI colours on stdout.
pub fn configure(detail: bool, color: bool) {
    DETAIL.store(detail, Ordering::Relaxed);
    COLOR.store(color, Ordering::Relaxed);
}

/// Whether a stage prints its detail table.
pub fn detail() -> bool {
    DETAIL.load(Ordering::Relaxed)
}

/// `--color auto|always|never` with `NO_COLOR` (https://no-color.org): auto
/// colours a terminal unless NO_COLOR is set to anything but "".
pub fn wants_color(
    choice: crate::cli::ColorChoice,
    terminal: bool,
    no_color: Option<std::ffi::OsString>,
) -> bool {
    match choice {
        crate::cli::ColorChoice::Always => true,
        crate::cli::ColorChoice::Never => false,
        crate::cli::ColorChoice::Auto => terminal && no_color.is_none_or(|v| v.is_empty()),
    }
}

/// A status word in its colour (green OK, yellow WARN, red FAIL and ERROR,
/// dim SKIP) when colour is on.
pub fn status(word: &str, width: usize) -> String {
    let padded = format!("{word:<width$}");
    if !COLOR.load(Ordering::Relaxed) {
        return padded;
    }
    let code = match word {
        "OK" => "32",
        "WARN" => "33",
        "FAIL" | "ERROR" => "31",
        _ => "2",
    };
    format!("\x1b[{code}m{padded}\x1b[0m")
}

/// How many warnings the log has carried so far (a mark for `since`).
pub fn warnings_mark() -> usize {
    WARNINGS.lock().unwrap_or_else(|e| e.into_inner()).len()
}

/// The warnings logged since `mark`.
pub fn warnings_since(mark: usize) -> Vec<String> {
    let all = WARNINGS.lock().unwrap_or_else(|e| e.into_inner());
    all.get(mark..).map(<[String]>::to_vec).unwrap_or_default()
}

/// A tracing layer that keeps the message of every WARN event of churn's
/// own code.
pub struct KeepWarnings;

impl<S: Subscriber> Layer<S> for KeepWarnings {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() != Level::WARN || !meta.target().starts_with("churn") {
            return;
        }
        let mut message = Message(String::new());
        event.record(&mut message);
        WARNINGS.lock().unwrap_or_else(|e| e.into_inner()).push(message.0);
    }
}

struct Message(String);

impl Visit for Message {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ColorChoice;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn colour_follows_the_flag_then_no_color() {
        assert!(wants_color(ColorChoice::Auto, true, None));
        assert!(
            wants_color(ColorChoice::Auto, true, Some("".into())),
            "an empty NO_COLOR is unset"
        );
        assert!(!wants_color(ColorChoice::Auto, true, Some("1".into())));
        assert!(
            !wants_color(ColorChoice::Auto, false, None),
            "never into a pipe or a file"
        );
        assert!(wants_color(ColorChoice::Always, false, Some("1".into())));
        assert!(!wants_color(ColorChoice::Never, true, None));
    }

    #[test]
    fn warnings_of_churn_are_kept_for_the_summary() {
        let subscriber = tracing_subscriber::registry().with(KeepWarnings);
        tracing::subscriber::with_default(subscriber, || {
            let mark = warnings_mark();
            tracing::info!("not a warning");
            tracing::warn!(stage = "labels", "only {} rows", 10);
            assert_eq!(warnings_since(mark), ["only 10 rows"]);
        });
    }
}
