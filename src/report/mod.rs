//! `churn report`: one self-contained HTML page (a summary, the risk list
//! with each user's reasons, then the model card, realised performance and
//! drift report) rendered from `templates/` with
//! minijinja, HTML auto-escaped. `data` gathers what the page shows from the
//! tables, `svg` draws it, and this module renders and writes the page.

mod data;
mod svg;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use chrono::Utc;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

use crate::error::{Context, Error, Result};
use crate::store::{Access, Store};

pub use crate::format::thousands;
pub use data::{RISK_ROWS, Report, gather, gather_for};

macro_rules! templates {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../templates/", $name)))),*]
    };
}

/// Every template: (path under templates/, source).
pub const TEMPLATES: &[(&str, &str)] = templates![
    "report.html",
    "charts.html",
    "model_card.html",
    "drift.html",
    "risk_list.html",
    "summary.html",
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        // Every template is HTML: escape everything it prints.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.add_filter("num", |v: f64, digits: Option<usize>| {
            format!("{v:.*}", digits.unwrap_or(4))
        });
        env.add_filter("risk", crate::format::sig3);
        env.add_filter("pct", |v: f64, digits: Option<usize>| {
            format!("{:.*}%", digits.unwrap_or(1), v * 100.0)
        });
        // Timestamps to the second: 2026-11-27T17:04:14.186 -> 2026-11-27 17:04:14.
        env.add_filter("when", |v: String| {
            v.chars().take(19).collect::<String>().replace('T', " ")
        });
        env.add_filter("thousands", crate::format::thousands);
        env.add_global("layout", minijinja::Value::from_serialize(&svg::GEOMETRY));
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("embedded templates parse");
        }
        env
    })
}

/// The page as HTML.
pub fn render(report: &Report) -> Result<String> {
    environment()
        .get_template("report.html")
        .and_then(|t| t.render(report))
        .map_err(|source| Error::Template {
            name: "report.html".into(),
            source,
        })
}

/// `churn report`: reads the file, writes `OUT/churn-report-<time>.html`,
/// returns its path.
pub fn write(db: &Path, out: &Path, lock_timeout: std::time::Duration) -> Result<PathBuf> {
    let start = Instant::now();
    let store = Store::open_existing(db, Access::ReadOnly, lock_timeout)?;
    let report = gather(&store)?;
    drop(store);
    if report.production.is_none() && report.drift.is_none() {
        return Err(Error::MissingInput(format!(
            "{} has no production model and no drift check to report on: run `churn run` first",
            db.display()
        )));
    }
    let html = render(&report)?;
    std::fs::create_dir_all(out).context(|| format!("creating the report folder {}", out.display()))?;
    let path = out.join(format!(
        "churn-report-{}.html",
        Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    ));
    // Written beside its final name and renamed: never a half-written report.
    let partial = path.with_extension("html.partial");
    std::fs::write(&partial, html.as_bytes()).context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, &path).context(|| format!("writing {}", path.display()))?;
    tracing::info!(
        "report: {} ({} KiB) in {:.2} s",
        path.display(),
        html.len() / 1024,
        start.elapsed().as_secs_f64()
    );
    Ok(path)
}
