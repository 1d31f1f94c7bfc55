//! `churn models list | show NAME | promote NAME | alias ALIAS NAME |
//! unalias ALIAS`: the registry, named as MLflow names it (a model by id, or
//! by an alias: production or champion, challenger, or one you set).

use clap::Subcommand;

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::error::{Context, Error, Result};
use crate::stages::{self, Ctx, Outcome, Stage};
use crate::store::models::{self, Decision};
use crate::store::status::ModelStatus;
use crate::store::{Access, Store};

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every model, newest first, with its status and test metrics.
    List {
        /// Print a JSON array of the models' rows instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// One model: its data, quality, inputs and promotion history.
    Show {
        /// A model id (see `churn models list`) or an alias: production
        /// (also champion, as MLflow names it), challenger (the newest
        /// model not promoted), or one set with `churn models alias`; with
        /// or without a leading @.
        model_id: String,
        /// Print everything as one JSON object (the row with its stored
        /// metrics and curves, terms, aliases, training data, promotions).
        #[arg(long)]
        json: bool,
    },
    /// Make a model the production model (the rollback path); recorded in
    /// model_promotions.
    Promote {
        /// A model id or an alias (as for `show`).
        model_id: String,
    },
    /// Give a model a name of your own (`churn models show @NAME`).
    Alias {
        /// The alias (not production, champion or challenger, which follow
        /// the models' status).
        alias: String,
        /// A model id or an alias (as for `show`).
        model_id: String,
    },
    /// Remove an alias set with `churn models alias`.
    Unalias { alias: String },
}

impl ModelsCommand {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        run(self, g.db(), &config)
    }
}

fn run(cmd: &ModelsCommand, db: &std::path::Path, config: &crate::config::Config) -> Result<()> {
    let lock_timeout = lock_timeout(config);
    match cmd {
        ModelsCommand::List { json } => {
            let store = Store::open_existing(db, Access::ReadOnly, lock_timeout)?;
            let models = models::list(&store.conn)?;
            let aliases = models::aliases(&store.conn)?;
            let named = |id: &str| aliases.get(id).cloned().unwrap_or_default();
            if *json {
                let rows: Vec<serde_json::Value> = models
                    .iter()
                    .map(|m| {
                        let mut v = serde_json::to_value(m).unwrap_or_default();
                        v["aliases"] = serde_json::json!(named(&m.model_id));
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
                return Ok(());
            }
            if models.is_empty() {
                println!("no models yet: `churn run --to promote` trains and promotes one");
                return Ok(());
            }
            println!(
                "{:<32} {:<10} {:<8} {:<20} {:>8} {:>8} {:>9} {:>9}  aliases",
                "model_id", "status", "role", "created (UTC)", "pr_auc", "roc_auc", "n_train", "n_test"
            );
            for m in models {
                println!(
                    "{:<32} {:<10} {:<8} {:<20} {:>8.4} {:>8.4} {:>9} {:>9}  {}",
                    m.model_id,
                    m.status,
                    m.role,
                    m.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    m.pr_auc,
                    m.roc_auc,
                    m.n_train,
                    m.n_test,
                    named(&m.model_id).join(", ")
                );
            }
            Ok(())
        }
        ModelsCommand::Show { model_id, json } => {
            let store = Store::open_existing(db, Access::ReadOnly, lock_timeout)?;
            let m = resolve(&store.conn, model_id)?;
            if *json {
                return show_json(&store, m);
            }
            print!("{}", show_text(&store, &m)?);
            Ok(())
        }
        ModelsCommand::Alias { alias, model_id } => {
            let name = alias.strip_prefix('@').unwrap_or(alias);
            if models::IMPLIED_ALIASES.contains(&name) {
                return Err(Error::Usage(format!(
                    "{name} follows the models' status and cannot be set: `churn models promote {model_id}` \
                     makes a model the production model"
                )));
            }
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(Error::Usage(format!(
                    "alias {alias:?}: use letters, digits, '-', '_' and '.', e.g. best-2026-q4"
                )));
            }
            let store = Store::open_existing(db, Access::ReadWrite, lock_timeout)?;
            let m = resolve(&store.conn, model_id)?;
            store.transaction(|conn| models::set_alias(conn, name, &m.model_id))?;
            println!("@{name} -> {}", m.model_id);
            Ok(())
        }
        ModelsCommand::Unalias { alias } => {
            let name = alias.strip_prefix('@').unwrap_or(alias);
            let store = Store::open_existing(db, Access::ReadWrite, lock_timeout)?;
            if !store.transaction(|conn| models::remove_alias(conn, name))? {
                return Err(Error::MissingInput(format!(
                    "no alias {name}: `churn models list` shows the aliases there are"
                )));
            }
            println!("@{name} removed");
            Ok(())
        }
        ModelsCommand::Promote { model_id } => {
            let store = Store::open_existing(db, Access::ReadWrite, lock_timeout)?;
            let ctx = Ctx::new(config, false);
            stages::run_recorded(&store, &ctx, &*Stage::Promote.def(), |conn| {
                let m = resolve(conn, model_id)?;
                let model_id = &m.model_id;
                if m.status == ModelStatus::Production {
                    return Ok(Outcome {
                        rows_out: 0,
                        params: serde_json::json!({"model_id": model_id, "decision": "none"}),
                        failure: None,
                        summary: format!("{model_id} is already the production model"),
                    });
                }
                let previous = models::production(conn)?;
                models::decide(
                    conn,
                    model_id,
                    Decision::Manual,
                    "manual promotion (`churn models promote`)",
                    Some(m.pr_auc),
                    previous.as_ref().map(|p| p.pr_auc),
                )?;
                Ok(Outcome {
                    rows_out: 1,
                    params: serde_json::json!({"model_id": model_id, "decision": "manual"}),
                    failure: None,
                    summary: format!(
                        "{model_id} is now the production model (was {})",
                        previous.map_or("none".to_string(), |p| p.model_id)
                    ),
                })
            })?;
            Ok(())
        }
    }
}

/// The model a name means, or an error that says what names there are.
fn resolve(conn: &duckdb::Connection, name: &str) -> Result<models::ModelRow> {
    models::resolve(conn, name)?.ok_or_else(|| match name.strip_prefix('@').unwrap_or(name) {
        "production" | "champion" => Error::MissingInput(
            "no production model yet: `churn run --to promote` trains and promotes one, \
             `churn models list` shows the models there are"
                .into(),
        ),
        "challenger" => Error::MissingInput(
            "no challenger: every model is in production or retired (`churn run --stage retrain` fits one)"
                .into(),
        ),
        _ => unknown(name),
    })
}

/// `churn models show NAME`: what a person reads; the curves summarised
/// (`--json` has them whole).
fn show_text(store: &Store, m: &models::ModelRow) -> Result<String> {
    use crate::format::thousands;
    let conn = &store.conn;
    let mut out = String::new();
    let mut line = |key: &str, text: String| out.push_str(&format!("{key:<10} {text}\n"));
    let aliases = models::aliases(conn)?.remove(&m.model_id).unwrap_or_default();
    line(
        "model",
        if aliases.is_empty() {
            m.model_id.clone()
        } else {
            format!("{} (@{})", m.model_id, aliases.join(", @"))
        },
    );
    line(
        "status",
        format!(
            "{}, fitted by {} at {} UTC ({})",
            m.status,
            m.role,
            m.created_at.format("%Y-%m-%d %H:%M:%S"),
            m.algorithm
        ),
    );
    line(
        "train",
        format!(
            "{} .. {}: {} rows, {:.1}% positive",
            m.train_from,
            m.train_to,
            thousands(m.n_train),
            100.0 * m.pos_rate_train
        ),
    );
    line(
        "test",
        format!(
            "{} .. {}: {} rows, {:.1}% positive",
            m.test_from,
            m.test_to,
            thousands(m.n_test),
            100.0 * m.pos_rate_test
        ),
    );
    let data = models::training_data(conn, &m.model_id)?;
    if !data.is_empty() {
        let events: i64 = data.iter().map(|(_, n)| n).sum();
        line(
            "data",
            format!("{} load(s) of events, {} rows", data.len(), thousands(events)),
        );
    }
    let q = &m.quality;
    let interval = |low: Option<f64>, high: Option<f64>| match (low, high) {
        (Some(l), Some(h)) => format!(" ({l:.3} to {h:.3})"),
        _ => String::new(),
    };
    line(
        "quality",
        format!(
            "PR-AUC {:.4}{}, ROC-AUC {:.4}{}, log loss {:.4}, Brier {:.4}",
            m.pr_auc,
            interval(q.pr_auc_low, q.pr_auc_high),
            m.roc_auc,
            interval(q.roc_auc_low, q.roc_auc_high),
            m.log_loss,
            m.brier
        ),
    );
    if let (Some(feature), Some(base)) = (&q.baseline_feature, q.baseline_pr_auc) {
        line(
            "",
            format!(
                "best single input {feature}: PR-AUC {base:.4}; lift {:.4}{}",
                m.pr_auc - base,
                interval(q.lift_low, q.lift_high)
            ),
        );
    }
    let ceiling = ceiling(&m.metrics_json);
    let on_rows = match ceiling.as_ref().and_then(|c| c.sample()) {
        Some(s) => format!(
            "the Bayes oracle on the rows of a sample of {} test users, where the model has PR-AUC {:.4}{}",
            crate::format::thousands(s.users as i64),
            s.model_pr_auc,
            s.baseline_pr_auc
                .map_or(String::new(), |b| format!(" and the best single input {b:.4}"))
        ),
        None => "the Bayes oracle on the same rows".to_string(),
    };
    match (q.oracle_pr_auc, q.gap_closed) {
        (Some(oracle), Some(share)) => line(
            "",
            format!(
                "best possible ({on_rows}): PR-AUC {oracle:.4}; the model closes {:.0}% of the gap between \
                 the best single input and the best possible",
                100.0 * share
            ),
        ),
        (Some(oracle), None) => line("", format!("best possible ({on_rows}): PR-AUC {oracle:.4}")),
        _ => {
            if let Some(reason) = oracle_unknown(&m.metrics_json) {
                line("", format!("best possible: not known: {reason}"));
            }
        }
    }
    let share = |to: f64| {
        ceiling
            .as_ref()
            .and_then(|c| c.share(m.pr_auc, q.baseline_pr_auc, to))
            .map_or(String::new(), |s| {
                format!("; the model closes {:.0}% of that gap", 100.0 * s)
            })
    };
    let (unseen, events) = ceiling.as_ref().map_or((None, None), |c| c.told_less());
    if let Some(u) = unseen {
        line(
            "",
            format!(
                "the oracle not told who has already left: PR-AUC {:.4}{}",
                u.pr_auc,
                share(u.pr_auc)
            ),
        );
    }
    if let Some(e) = events {
        line(
            "",
            format!(
                "best possible from events alone (told neither who left nor engagement): PR-AUC {:.4}{}",
                e.pr_auc,
                share(e.pr_auc)
            ),
        );
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(&m.metrics_json) {
        let segments: Vec<crate::model::metrics::Segment> =
            serde_json::from_value(json["segments"].clone()).unwrap_or_default();
        if !segments.is_empty() {
            let text: Vec<String> = segments
                .iter()
                .map(|s| {
                    format!(
                        "{} {} ({} rows, {:.1}% churn)",
                        s.name,
                        s.pr_auc.map_or("-".to_string(), |v| format!("{v:.3}")),
                        thousands(s.rows as i64),
                        100.0 * s.base_rate
                    )
                })
                .collect();
            line("", format!("PR-AUC within: {}", text.join("; ")));
        }
        if let Ok(left) =
            serde_json::from_value::<crate::store::truth::AlreadyLeft>(json["already_left"].clone())
        {
            line(
                "",
                format!(
                    "already left by the as-of day (synthetic_truth): {:.1}% of the top 10%, {:.1}% of the top 1%, \
                     {:.1}% of the positives",
                    100.0 * left.top_decile,
                    100.0 * left.top_percent,
                    100.0 * left.positives
                ),
            );
        }
    }
    if let (Some(mean), Some(ece)) = (q.mean_risk, q.ece) {
        line(
            "",
            format!(
                "calibration: mean risk {mean:.4} vs observed {:.4}, ECE {ece:.4}",
                m.pos_rate_test
            ),
        );
    }
    if let Ok(metrics) = serde_json::from_str::<crate::model::metrics::Metrics>(&m.metrics_json) {
        let lifts: Vec<String> = metrics.deciles.iter().map(|d| format!("{:.2}", d.lift)).collect();
        line(
            "",
            format!(
                "top 10%: precision {:.3}, lift {:.2}; lift by decile {}; curves PR {} and ROC {} points",
                metrics.top10_precision,
                metrics.top10_lift,
                if lifts.is_empty() {
                    "-".to_string()
                } else {
                    lifts.join(" ")
                },
                metrics.pr_curve.len(),
                metrics.roc_curve.len()
            ),
        );
    }
    if let Ok(serde_json::Value::Object(params)) = serde_json::from_str::<serde_json::Value>(&m.params_json) {
        let flat: Vec<String> = params
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, v)| format!("{k}={}", v.to_string().trim_matches('"')))
            .collect();
        line("params", flat.join(" "));
    }
    let model = models::load(conn, &m.model_id)?;
    out.push_str(&format!(
        "\n{:<36} {:>14} {:>14} {:>14}\n",
        "term", "center", "scale", "coefficient"
    ));
    for t in &model.terms {
        out.push_str(&format!(
            "{:<36} {:>14.6} {:>14.6} {:>14.6}\n",
            t.term, t.center, t.scale, t.coefficient
        ));
    }
    let history: Vec<(String, String, String)> = conn
        .prepare(
            "select strftime(promoted_at, '%Y-%m-%d %H:%M:%S'), decision, reason from model_promotions \
             where model_id = ? order by promoted_at",
        )
        .and_then(|mut s| {
            s.query_map([&m.model_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .context(|| "reading model_promotions".into())?;
    if !history.is_empty() {
        out.push('\n');
        for (at, decision, reason) in history {
            out.push_str(&format!("{at}  {decision:<9} {reason}\n"));
        }
    }
    out.push_str(
        "\n(`--json` for everything: the stored metrics with the curves, the terms, the promotions)\n",
    );
    Ok(out)
}

/// `churn models show NAME --json`: the row, the terms, the aliases, the
/// training data and the decisions.
fn show_json(store: &Store, m: models::ModelRow) -> Result<()> {
    let model = models::load(&store.conn, &m.model_id)?;
    let promotions: Vec<serde_json::Value> = store
        .conn
        .prepare(
            "select strftime(promoted_at, '%Y-%m-%dT%H:%M:%S'), decision, reason, candidate_score, \
             production_score, previous_model_id from model_promotions where model_id = ? order by promoted_at",
        )
        .and_then(|mut s| {
            s.query_map([&m.model_id], |r| {
                Ok(serde_json::json!({
                    "promoted_at": r.get::<_, String>(0)?,
                    "decision": r.get::<_, String>(1)?,
                    "reason": r.get::<_, String>(2)?,
                    "candidate_score": r.get::<_, Option<f64>>(3)?,
                    "production_score": r.get::<_, Option<f64>>(4)?,
                    "previous_model_id": r.get::<_, Option<String>>(5)?,
                }))
            })?
            .collect()
        })
        .context(|| "reading model_promotions".into())?;
    let aliases = models::aliases(&store.conn)?
        .remove(&m.model_id)
        .unwrap_or_default();
    let data: Vec<serde_json::Value> = models::training_data(&store.conn, &m.model_id)?
        .into_iter()
        .map(|(load_id, events)| serde_json::json!({"load_id": load_id, "events": events}))
        .collect();
    let out = serde_json::json!({"model": m, "aliases": aliases, "terms": model.terms,
        "training_data": data, "promotions": promotions});
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

fn unknown(model_id: &str) -> Error {
    Error::MissingInput(format!(
        "no model {model_id}: `churn models list` shows the models there are"
    ))
}

/// Why a model's card has no oracle, as train recorded it.
/// The oracle's figures as train recorded them (none for a model trained
/// before they were kept).
fn ceiling(metrics_json: &str) -> Option<crate::store::truth::Ceiling> {
    let json: serde_json::Value = serde_json::from_str(metrics_json).ok()?;
    serde_json::from_value(json["oracle"].clone()).ok()
}

fn oracle_unknown(metrics_json: &str) -> Option<String> {
    match ceiling(metrics_json)? {
        crate::store::truth::Ceiling::Unknown { reason } => Some(reason),
        crate::store::truth::Ceiling::Measured { .. } => None,
    }
}
