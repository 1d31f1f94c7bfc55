//! `churn models list | show ID | promote ID`.

use std::path::Path;
use std::time::Duration;

use crate::cli::ModelsCommand;
use crate::config::Config;
use crate::db::{Access, Store};
use crate::error::{Context, Error, Result};
use crate::model::registry::{self, Decision};
use crate::stages::{self, Ctx, Outcome};

pub fn run(cmd: &ModelsCommand, db: &Path, config: &Config, lock_timeout: Duration) -> Result<()> {
    match cmd {
        ModelsCommand::List => {
            let store = Store::open_existing(db, Access::ReadOnly, lock_timeout)?;
            let models = registry::list(&store.conn)?;
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
        ModelsCommand::Show { model_id } => {
            let store = Store::open_existing(db, Access::ReadOnly, lock_timeout)?;
            let m = registry::get(&store.conn, model_id)?.ok_or_else(|| unknown(model_id))?;
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
            let model = registry::load(&store.conn, model_id)?;
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
            stages::run_recorded(&store, &ctx, "promote", &["models"], |conn| {
                let m = registry::get(conn, model_id)?.ok_or_else(|| unknown(model_id))?;
                if m.status == "production" {
                    return Ok(Outcome {
                        rows_out: 0,
                        params: serde_json::json!({"model_id": model_id, "decision": "none"}),
                        failure: None,
                        summary: format!("{model_id} is already the production model"),
                    });
                }
                let previous = registry::production(conn)?;
                registry::decide(
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

fn unknown(model_id: &str) -> Error {
    Error::MissingInput(format!(
        "no model {model_id}: `churn models list` shows the models there are"
    ))
}
