//! `churn models list | show ID | promote ID`.

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
    /// One model: metadata, metrics, terms and promotion history.
    Show {
        /// The model id (see `churn models list`), or `production` (also
        /// `@champion`, as MLflow names it) for the production model.
        model_id: String,
        /// Print one JSON object (the model's row, terms, promotions).
        #[arg(long)]
        json: bool,
    },
    /// Make a model the production model (the rollback path); recorded in
    /// model_promotions.
    Promote {
        /// The model id (see `churn models list`).
        model_id: String,
    },
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
            if *json {
                println!("{}", serde_json::to_string_pretty(&models).unwrap_or_default());
                return Ok(());
            }
            if models.is_empty() {
                println!("no models yet: `churn run --to promote` trains and promotes one");
                return Ok(());
            }
            println!(
                "{:<32} {:<10} {:<8} {:<20} {:>8} {:>8} {:>9} {:>9}",
                "model_id", "status", "role", "created (UTC)", "pr_auc", "roc_auc", "n_train", "n_test"
            );
            for m in models {
                println!(
                    "{:<32} {:<10} {:<8} {:<20} {:>8.4} {:>8.4} {:>9} {:>9}",
                    m.model_id,
                    m.status,
                    m.role,
                    m.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    m.pr_auc,
                    m.roc_auc,
                    m.n_train,
                    m.n_test
                );
            }
            Ok(())
        }
        ModelsCommand::Show { model_id, json } => {
            let store = Store::open_existing(db, Access::ReadOnly, lock_timeout)?;
            let m = match model_id.as_str() {
                "production" | "@champion" => models::production(&store.conn)?.ok_or_else(|| {
                    Error::MissingInput(
                        "no production model yet: `churn run --to promote` trains and promotes one,                          `churn models list` shows the models there are"
                            .into(),
                    )
                })?,
                id => models::get(&store.conn, id)?.ok_or_else(|| unknown(id))?,
            };
            let model_id = &m.model_id;
            if *json {
                return show_json(&store, m);
            }
            println!("model_id      {}", m.model_id);
            println!("status        {} (role {})", m.status, m.role);
            println!("created_at    {}", m.created_at);
            println!(
                "train         {} .. {} ({} rows, positive rate {:.4})",
                m.train_from, m.train_to, m.n_train, m.pos_rate_train
            );
            println!(
                "test          {} .. {} ({} rows, positive rate {:.4})",
                m.test_from, m.test_to, m.n_test, m.pos_rate_test
            );
            println!("pr_auc        {:.6}", m.pr_auc);
            println!("roc_auc       {:.6}", m.roc_auc);
            println!("log_loss      {:.6}", m.log_loss);
            println!("brier         {:.6}", m.brier);
            println!("params        {}", m.params_json);
            println!("metrics       {}", m.metrics_json);
            println!();
            let model = models::load(&store.conn, model_id)?;
            println!(
                "{:<36} {:>14} {:>14} {:>14}",
                "term", "center", "scale", "coefficient"
            );
            for t in &model.terms {
                println!(
                    "{:<36} {:>14.6} {:>14.6} {:>14.6}",
                    t.term, t.center, t.scale, t.coefficient
                );
            }
            let history: Vec<(String, String, String)> = store
                .conn
                .prepare(
                    "select strftime(promoted_at, '%Y-%m-%d %H:%M:%S'), decision, reason from model_promotions \
                     where model_id = ? order by promoted_at",
                )
                .and_then(|mut s| s.query_map([model_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
                .context(|| "reading model_promotions".into())?;
            if !history.is_empty() {
                println!();
                for (at, decision, reason) in history {
                    println!("{at}  {decision:<9} {reason}");
                }
            }
            Ok(())
        }
        ModelsCommand::Promote { model_id } => {
            let store = Store::open_existing(db, Access::ReadWrite, lock_timeout)?;
            let ctx = Ctx::new(config, false);
            stages::run_recorded(&store, &ctx, &*Stage::Promote.def(), |conn| {
                let m = models::get(conn, model_id)?.ok_or_else(|| unknown(model_id))?;
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

/// `churn models show ID --json`: the row, the terms and the decisions.
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
    let out = serde_json::json!({"model": m, "terms": model.terms, "promotions": promotions});
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    Ok(())
}

fn unknown(model_id: &str) -> Error {
    Error::MissingInput(format!(
        "no model {model_id}: `churn models list` shows the models there are"
    ))
}
