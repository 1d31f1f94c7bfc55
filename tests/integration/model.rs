//! train, promote, score and `churn models` on a small synthetic dataset.

use churn::config::{Config, Population};
use churn::model::frame::Rows;
use churn::stages::{Stage, run_stage};
use churn::store::Store;
use churn::store::frames::load;
use churn::store::models;

use crate::common::{Sandbox, ctx, exec, rows, small_config, stderr, stdout};

/// Every implemented stage through score (validate skipped: it has its own tests).
fn pipeline() -> impl Iterator<Item = Stage> {
    churn::stages::default_pipeline()
        .into_iter()
        .filter(|s| *s != Stage::Validate && *s <= Stage::Score)
}

fn config() -> Config {
    small_config(400, 100)
}

fn scored() -> (Sandbox, Store, Config) {
    let sb = Sandbox::new();
    let store = sb.store();
    let config = config();
    for stage in pipeline() {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    (sb, store, config)
}

fn one(store: &Store, sql: &str) -> String {
    rows(store, sql)[0][0].clone()
}

#[test]
fn the_pipeline_leaves_a_production_model_and_every_user_scored_by_their_own_row() {
    let (_sb, store, _config) = scored();
    assert_eq!(one(&store, "select count(*) from production_model"), "1");
    let model_id = one(&store, "select model_id from production_model");
    assert!(model_id.starts_with("logreg-"), "{model_id}");
    // The model is fully described by its rows: an intercept and a term per input.
    assert_eq!(
        one(
            &store,
            &format!("select count(*) from model_terms where model_id = '{model_id}' and feature is null")
        ),
        "1"
    );
    let metrics = rows(&store, "select pr_auc, roc_auc, n_train, n_test from models");
    let pr_auc: f64 = metrics[0][0].parse().unwrap();
    let roc_auc: f64 = metrics[0][1].parse().unwrap();
    assert!(pr_auc > 0.0 && pr_auc <= 1.0 && roc_auc > 0.6, "{metrics:?}");

    // Every user active in the last labels.recent_days (7) days has exactly
    // one prediction...
    let latest = one(&store, "select max(as_of_date) from user_features_daily");
    let population = one(
        &store,
        &format!(
            "select count(distinct user_id) from user_daily where is_active_day = 1
             and activity_date between date '{latest}' - 6 and date '{latest}'"
        ),
    );
    assert_eq!(
        rows(
            &store,
            "select count(*), count(distinct user_id), min(risk_rank), max(risk_rank) from predictions"
        ),
        vec![vec![
            population.clone(),
            population.clone(),
            "1".to_string(),
            population.clone()
        ]]
    );
    // ...and it is the model applied to that user's own row, loaded alone.
    let model = models::load(&store.conn, &model_id).unwrap();
    let preds = rows(
        &store,
        "select user_id, churn_risk from predictions order by user_id",
    );
    let date: chrono::NaiveDate = latest.parse().unwrap();
    for pred in preds.iter().step_by(7) {
        exec(
            &store,
            &format!(
                "create or replace temp table one_row as select * from user_features_daily
                 where user_id = '{}' and as_of_date = date '{latest}'",
                pred[0]
            ),
        );
        let only = Rows::Population {
            from: date,
            to: date,
            population: Population::All,
        };
        let frame = load(&store.conn, "one_row", &only, &model.numeric_features(), false).unwrap();
        assert_eq!(frame.len(), 1);
        let own = model.predict(&frame, &[0])[0];
        let stored: f64 = pred[1].parse().unwrap();
        assert!(
            (own - stored).abs() < 1e-12,
            "{}: stored {stored}, own row {own}",
            pred[0]
        );
    }
    // Ranks follow the risk.
    assert_eq!(
        one(
            &store,
            "select count(*) from predictions a join predictions b
             on a.risk_rank < b.risk_rank and a.churn_risk < b.churn_risk"
        ),
        "0"
    );
}

#[test]
fn chunked_passes_agree_with_the_whole_frame() {
    use churn::model::baseline::{Tally, single_inputs};
    use churn::store::frames::CHUNK_ROWS;
    use churn::store::scored::{columns_of, score_rows};
    use std::collections::HashMap;

    let (_sb, store, _config) = scored();
    // The training set eight times over, each copy its own users: several
    // chunks of the streamed passes.
    exec(
        &store,
        "create temp table wide as select t.* replace (t.user_id || '-' || r.k as user_id)
         from training_set t, range(8) r(k)",
    );
    let n: usize = one(&store, "select count(*) from wide").parse().unwrap();
    assert!(n > 2 * CHUNK_ROWS, "{n} rows make fewer than three chunks");
    let (first, last): (chrono::NaiveDate, chrono::NaiveDate) = (
        one(&store, "select min(as_of_date) from wide").parse().unwrap(),
        one(&store, "select max(as_of_date) from wide").parse().unwrap(),
    );
    let model_id = one(&store, "select model_id from production_model");
    let model = models::load(&store.conn, &model_id).unwrap();
    let numeric = model.numeric_features();
    let rows = Rows::Dates(vec![(first, last)]);

    let frame = load(&store.conn, "wide", &rows, &numeric, true).unwrap();
    let all: Vec<usize> = (0..frame.len()).collect();
    let whole = model.predict(&frame, &all);
    let by_key: HashMap<(&str, i32), usize> = all
        .iter()
        .map(|&i| ((frame.user_name(i), frame.as_of[i]), i))
        .collect();

    let mut tally = Tally::new(&numeric);
    let mut chunks = 0;
    let scored = score_rows(
        &store.conn,
        "wide",
        &rows,
        &numeric,
        &[&model],
        true,
        |chunk, _| {
            chunks += 1;
            tally.add(chunk, &(0..chunk.len()).collect::<Vec<_>>());
            Ok(())
        },
    )
    .unwrap();
    assert!(chunks >= 3, "{chunks} chunks");
    assert_eq!(scored.len(), n);
    let read = [numeric[0].clone(), numeric[numeric.len() - 1].clone()];
    let columns = columns_of(&store.conn, "wide", &rows, &read, &scored).unwrap();
    let j = frame.numeric_index(&numeric[0]).unwrap();
    let last = frame.numeric_index(&numeric[numeric.len() - 1]).unwrap();
    for k in 0..scored.len() {
        let i = by_key[&(scored.user_name(k), scored.as_of[k])];
        assert_eq!(scored.label[k], frame.label[i]);
        assert!((scored.scores[0][k] - whole[i]).abs() < 1e-12, "row {k}");
        for (column, j) in [(&columns[0], j), (&columns[1], last)] {
            let (a, b) = (column[k], frame.numeric[[i, j]]);
            assert!(a == b || (a.is_nan() && b.is_nan()), "row {k}: {a} vs {b}");
        }
    }
    // The streamed single-input PR-AUCs are those of the whole frame.
    let streamed = tally.finish().unwrap();
    let at_once = single_inputs(&frame, &all).unwrap();
    assert_eq!(streamed.len(), at_once.len());
    for (a, b) in streamed.iter().zip(&at_once) {
        assert_eq!((&a.feature, a.direction), (&b.feature, b.direction));
        assert!((a.pr_auc - b.pr_auc).abs() < 1e-12, "{a:?} vs {b:?}");
    }
    // A second pass over rows that changed since the first is refused,
    // naming the table, rather than pairing values with the wrong rows.
    exec(
        &store,
        "delete from wide where as_of_date = (select max(as_of_date) from wide)",
    );
    let err = columns_of(&store.conn, "wide", &rows, &read, &scored).unwrap_err();
    assert!(
        matches!(&err, churn::error::Error::Changed { table } if table == "wide"),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "wide changed while it was being read; run the stage again"
    );
}

#[test]
fn sampled_as_of_dates_keep_one_day_in_n_per_user_and_every_test_row() {
    let sb = Sandbox::new();
    let store = sb.store();
    let mut config = config();
    config.train.as_of_every_days = 4;
    for stage in pipeline().filter(|s| *s <= Stage::Train) {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    let params: serde_json::Value =
        serde_json::from_str(&one(&store, "select params_json::varchar from models")).unwrap();
    assert_eq!(params["as_of_every_days"], 4, "{params}");
    let (n_train, n_test, train_from, train_to, test_from, test_to): (
        i64,
        i64,
        String,
        String,
        String,
        String,
    ) = {
        let r = rows(
            &store,
            "select n_train, n_test, train_from, train_to, test_from, test_to from models",
        );
        (
            r[0][0].parse().unwrap(),
            r[0][1].parse().unwrap(),
            r[0][2].clone(),
            r[0][3].clone(),
            r[0][4].clone(),
            r[0][5].clone(),
        )
    };
    let available: i64 = one(
        &store,
        &format!(
            "select count(*) from training_set where as_of_date between '{train_from}' and '{train_to}'"
        ),
    )
    .parse()
    .unwrap();
    assert_eq!(params["train_rows_available"], available, "{params}");
    // Each user keeps the dates of one residue mod 4: a quarter, give or take
    // the ends of each user's run of dates.
    let share = n_train as f64 / available as f64;
    assert!((0.2..0.3).contains(&share), "{n_train} of {available}");
    // The test metrics use every test row.
    assert_eq!(
        n_test.to_string(),
        one(
            &store,
            &format!(
                "select count(*) from training_set where as_of_date between '{test_from}' and '{test_to}'"
            ),
        )
    );
}

#[test]
fn score_sql_matches_the_rust_scores() {
    let (_sb, store, config) = scored();
    let sql = churn::render_stage_sql(Stage::Score, &config).unwrap();
    let select = sql
        .lines()
        .filter(|l| !l.starts_with("-- sql/"))
        .collect::<Vec<_>>()
        .join("\n");
    let select = select.trim().trim_end_matches(';');
    exec(&store, &format!("create temp table sql_scores as {select}"));
    assert_eq!(
        rows(
            &store,
            "select count(*), count(p.user_id), max(abs(s.churn_risk - p.churn_risk)) < 1e-9
             from sql_scores s left join predictions p using (user_id, as_of_date, model_id)"
        ),
        vec![vec![
            one(&store, "select count(*) from predictions"),
            one(&store, "select count(*) from predictions"),
            "true".to_string()
        ]]
    );
}

#[test]
fn rescoring_replaces_the_slice_and_exports_the_same_rows() {
    let sb = Sandbox::new();
    let c = sb.small(300, 100);
    let out = sb.churn(&["--config", &c, "run", "--to", "score"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let csv = sb.path("out/preds.csv");
    let parquet = sb.path("preds.parquet");
    for path in [&csv, &parquet] {
        let out = sb.churn(&[
            "--config",
            &c,
            "run",
            "--stage",
            "score",
            "--export",
            path.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let store = sb.store();
    let n = one(&store, "select count(*) from predictions");
    assert_eq!(
        one(
            &store,
            "select count(distinct (as_of_date, user_id, model_id)) from predictions"
        ),
        n
    );
    for path in [&csv, &parquet] {
        let exported = rows(
            &store,
            &format!(
                "select user_id, churn_risk, risk_rank from '{}' order by user_id",
                path.display()
            ),
        );
        let stored = rows(
            &store,
            "select user_id, churn_risk, risk_rank from predictions
             where as_of_date = (select max(as_of_date) from predictions) order by user_id",
        );
        assert!(
            exported == stored,
            "{} differs from the latest slice",
            path.display()
        );
    }
    // The whole pipeline also scored the model's test window for evaluate:
    // one slice per date of it, besides the latest.
    assert_eq!(
        one(
            &store,
            "select count(distinct as_of_date) = (select test_to - test_from + 2 from production_model)
             from predictions"
        ),
        "true"
    );
    let slices_before: i64 = one(&store, "select count(distinct as_of_date) from predictions")
        .parse()
        .unwrap();
    drop(store);
    // An earlier date adds its own slice; an unknown date lists the range.
    let out = sb.churn(&[
        "--config",
        &c,
        "run",
        "--stage",
        "score",
        "--as-of-date",
        "2026-02-15",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sb.churn(&[
        "--config",
        &c,
        "run",
        "--stage",
        "score",
        "--as-of-date",
        "2027-01-01",
    ]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("from 2026-01-01 to 2026-04-10"),
        "{}",
        stderr(&out)
    );
    let store = sb.store();
    assert_eq!(
        one(&store, "select count(distinct as_of_date) from predictions"),
        (slices_before + 1).to_string()
    );
}

/// Registers a copy of `model_id` whose coefficients are `transform`ed, as a
/// new candidate.
fn register_variant(store: &Store, model_id: &str, new_id: &str, coefficient: &str) {
    exec(
        store,
        &format!(
            "insert into models select * replace ('{new_id}' as model_id, 'candidate' as status,
                 created_at + interval 1 second as created_at)
             from models where model_id = '{model_id}';
             insert into model_terms select * replace ('{new_id}' as model_id, {coefficient} as coefficient)
             from model_terms where model_id = '{model_id}';"
        ),
    );
}

#[test]
fn promotion_compares_on_the_candidates_test_rows_and_records_every_decision() {
    let (_sb, store, mut config) = scored();
    let first = one(&store, "select model_id from production_model");
    // A reversed model ranks users backwards: kept out.
    register_variant(&store, &first, "logreg-worse", "-coefficient");
    run_stage(&store, &ctx(&config), Stage::Promote).unwrap();
    assert_eq!(one(&store, "select model_id from production_model"), first);
    let kept = rows(
        &store,
        "select decision, previous_model_id, candidate_score < production_score from model_promotions
         where model_id = 'logreg-worse'",
    );
    assert_eq!(kept, vec![vec!["kept", first.as_str(), "true"]]);
    assert_eq!(
        one(
            &store,
            "select status from models where model_id = 'logreg-worse'"
        ),
        "rejected"
    );

    // The same model again scores the same: promoted with min_improvement 0,
    // kept when a gain is required.
    register_variant(&store, &first, "logreg-same", "coefficient");
    config.promote.min_improvement = 0.01;
    run_stage(&store, &ctx(&config), Stage::Promote).unwrap();
    assert_eq!(
        one(
            &store,
            "select decision from model_promotions where model_id = 'logreg-same'"
        ),
        "kept"
    );
    register_variant(&store, &first, "logreg-same2", "coefficient");
    config.promote.min_improvement = 0.0;
    run_stage(&store, &ctx(&config), Stage::Promote).unwrap();
    assert_eq!(
        one(&store, "select model_id from production_model"),
        "logreg-same2"
    );
    let scores = rows(
        &store,
        "select candidate_score = production_score from model_promotions where model_id = 'logreg-same2'",
    );
    assert_eq!(scores, vec![vec!["true"]]);

    // Nothing waiting: a rerun changes nothing.
    run_stage(&store, &ctx(&config), Stage::Promote).unwrap();
    assert_eq!(one(&store, "select count(*) from model_promotions"), "4");
    assert_eq!(one(&store, "select count(*) from production_model"), "1");
    assert_eq!(
        one(
            &store,
            &format!("select status from models where model_id = '{first}'")
        ),
        "retired"
    );
}

#[test]
fn models_commands_list_show_and_roll_back() {
    let sb = Sandbox::new();
    let c = sb.small(300, 100);
    let out = sb.churn(&["--config", &c, "run", "--to", "promote"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sb.churn(&["--config", &c, "run", "--stage", "train", "--stage", "promote"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = sb.store();
    let ids = rows(&store, "select model_id from models order by created_at");
    let (first, second) = (ids[0][0].clone(), ids[1][0].clone());
    drop(store);

    let out = sb.churn(&["models", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&first) && stdout(&out).contains(&second),
        "{}",
        stdout(&out)
    );
    let out = sb.churn(&["models", "show", &first]);
    assert!(stdout(&out).contains("(intercept)"), "{}", stdout(&out));
    // The production model by its alias, either spelling.
    let production = one(&sb.store(), "select model_id from production_model");
    for alias in ["production", "@champion"] {
        let out = sb.churn(&["models", "show", alias]);
        assert!(out.status.success(), "{alias}: {}", stderr(&out));
        assert!(
            stdout(&out).starts_with(&format!("model      {production} (@production")),
            "{alias}: {}",
            stdout(&out)
        );
    }

    // Roll back to the first model, whatever the second decision was.
    let out = sb.churn(&["models", "promote", &first]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = sb.store();
    assert_eq!(one(&store, "select model_id from production_model"), first);
    assert_eq!(
        one(
            &store,
            &format!(
                "select decision from model_promotions where model_id = '{first}' order by promoted_at desc limit 1"
            )
        ),
        "manual"
    );
    drop(store);
    let out = sb.churn(&["models", "promote", "logreg-nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no model logreg-nope"), "{}", stderr(&out));
}

/// retrain keeps production when its candidate is worse, and a retrain that
/// fails halfway through its decision leaves the one production model it
/// found, and no trace of its candidate.
#[test]
fn retrain_keeps_production_against_a_worse_candidate_and_survives_a_failure() {
    let (_sb, store, mut config) = scored();
    let production = one(&store, "select model_id from production_model");
    let models_before = one(&store, "select count(*) from models");

    // Scrambled labels on the train dates, the real ones on the test dates:
    // the candidate learns noise and is measured against the truth.
    exec(
        &store,
        "update training_set set churn_label = (hash(user_id, as_of_date) % 2)::integer
         where as_of_date < (select test_from from production_model)",
    );
    let out = run_stage(&store, &ctx(&config), Stage::Retrain).unwrap();
    assert_eq!(out.params["decision"], "kept", "{:?}", out.params);
    assert_eq!(one(&store, "select model_id from production_model"), production);
    let decision = rows(
        &store,
        "select p.decision, p.previous_model_id, p.candidate_score < p.production_score, m.status
         from model_promotions p join models m using (model_id) where m.role = 'retrain'",
    );
    assert_eq!(
        decision,
        vec![vec!["kept", production.as_str(), "true", "rejected"]]
    );

    // With the real labels back and any candidate good enough, the decision
    // would promote; recording it fails after production has been retired
    // and the candidate promoted inside the transaction.
    run_stage(&store, &ctx(&config), Stage::TrainingSet).unwrap();
    config.promote.min_improvement = -1.0;
    exec(
        &store,
        "alter table model_promotions rename to model_promotions_moved",
    );
    let err = run_stage(&store, &ctx(&config), Stage::Retrain).unwrap_err();
    assert!(
        err.to_string().contains("recording the promotion decision"),
        "{err}"
    );
    exec(
        &store,
        "alter table model_promotions_moved rename to model_promotions",
    );
    assert_eq!(one(&store, "select model_id from production_model"), production);
    assert_eq!(
        one(&store, "select count(*) from models where status = 'production'"),
        "1"
    );
    let after_kept = (models_before.parse::<i64>().unwrap() + 1).to_string();
    assert_eq!(one(&store, "select count(*) from models"), after_kept);
    assert_eq!(
        one(
            &store,
            "select status from pipeline_runs where stage = 'retrain' order by started_at desc limit 1"
        ),
        "failed"
    );

    // The same retrain, undisturbed, promotes.
    let out = run_stage(&store, &ctx(&config), Stage::Retrain).unwrap();
    assert_eq!(out.params["decision"], "promoted", "{:?}", out.params);
    let promoted = out.params["model_id"].as_str().unwrap().to_string();
    assert_eq!(one(&store, "select model_id from production_model"), promoted);
    assert_eq!(
        one(&store, "select count(*) from models where status = 'production'"),
        "1"
    );
}

/// The gate against one input alone: a first model that does not beat the
/// best single input by promote.min_lift_over_baseline is rejected, its
/// decision stored with the figures, and the run exits 1 naming them.
#[test]
fn gate_rejects_a_first_model_that_does_not_beat_the_best_single_input() {
    let sb = Sandbox::new();
    let c = sb.write(
        "gate.toml",
        &crate::common::small_toml(300, 100)
            .replace("min_lift_over_baseline = -1.0", "min_lift_over_baseline = 0.9"),
    );
    let c = c.to_str().unwrap();
    let out = sb.churn(&["--config", c, "run", "--to", "score"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("model rejected"), "{err}");
    assert!(
        err.contains("best single input") && err.contains("promote.min_lift_over_baseline"),
        "{err}"
    );
    let store = sb.store();
    assert_eq!(one(&store, "select count(*) from production_model"), "0");
    let decision = rows(
        &store,
        "select p.decision, m.status, p.reason like '%lift%< 0.9%', m.pr_auc - m.baseline_pr_auc < 0.9,
                m.baseline_feature is not null
         from model_promotions p join models m using (model_id)",
    );
    assert_eq!(
        decision,
        vec![vec!["rejected", "rejected", "true", "true", "true"]]
    );
    // score never ran; promote's run is recorded as failed with the reason.
    assert_eq!(
        rows(
            &store,
            "select status, error like '%best single input%' from pipeline_runs where stage = 'promote'"
        ),
        vec![vec!["rejected", "true"]]
    );
    assert_eq!(
        one(&store, "select count(*) from pipeline_runs where stage = 'score'"),
        "0"
    );
}

/// The calibration half of the gate, and a failing candidate beside a
/// production model: rejected, production kept, exit 0.
#[test]
fn gate_rejects_an_uncalibrated_candidate_and_keeps_production() {
    let (_sb, store, mut config) = scored();
    let production = one(&store, "select model_id from production_model");
    config.promote.max_ece = 0.0;
    let out = run_stage(&store, &ctx(&config), Stage::Retrain).unwrap();
    assert_eq!(out.params["decision"], "rejected", "{:?}", out.params);
    assert_eq!(one(&store, "select model_id from production_model"), production);
    let reason = one(
        &store,
        "select reason from model_promotions p join models m using (model_id) where m.role = 'retrain'",
    );
    assert!(
        reason.contains("ECE") && reason.contains("promote.max_ece"),
        "{reason}"
    );
}

/// What train stores beside PR-AUC: calibration, the constant predictor,
/// the best single input and the bootstrap intervals, consistent with each
/// other and with the test rows.
#[test]
fn train_stores_calibration_baselines_and_intervals() {
    let (_sb, store, config) = scored();
    let m = rows(
        &store,
        "select pr_auc, pr_auc_low, pr_auc_high, roc_auc, roc_auc_low, roc_auc_high,
                baseline_pr_auc, lift_low, lift_high, ece, mean_risk, pos_rate_test, brier, brier_constant,
                log_loss, log_loss_constant, class_weight, baseline_feature, test_from, test_to
         from production_model",
    );
    let v = |k: usize| m[0][k].parse::<f64>().unwrap();
    assert!(
        v(1) < v(0) && v(0) < v(2),
        "PR-AUC {} in [{}, {}]",
        v(0),
        v(1),
        v(2)
    );
    assert!(
        v(4) < v(3) && v(3) < v(5),
        "ROC-AUC {} in [{}, {}]",
        v(3),
        v(4),
        v(5)
    );
    assert!(v(7) < v(0) - v(6) && v(0) - v(6) < v(8), "lift in its interval");
    // The constant predictor of the observed rate r: Brier r(1 - r).
    let r = v(11);
    assert!((v(13) - r * (1.0 - r)).abs() < 1e-12);
    assert!(v(15) > 0.0 && v(9) >= 0.0 && v(10) > 0.0);
    assert_eq!(m[0][16], "none");
    // The stored baseline is the best of every input in both directions on
    // the test rows, recomputed here by SQL ranking: its PR-AUC, by hand.
    let feature = m[0][17].split(' ').next().unwrap().to_string();
    let lower = m[0][17].contains("lower");
    let test = Rows::Dates(vec![(m[0][18].parse().unwrap(), m[0][19].parse().unwrap())]);
    let numeric = churn::store::frames::numeric_features(&store.conn, "training_set").unwrap();
    let frame = load(&store.conn, "training_set", &test, &numeric, true).unwrap();
    let j = frame.numeric_index(&feature).unwrap();
    let all: Vec<usize> = (0..frame.len()).collect();
    // A NULL ranks at the mean of the column's values on these rows.
    let present: Vec<f64> = all
        .iter()
        .map(|&i| frame.numeric[[i, j]])
        .filter(|x| !x.is_nan())
        .collect();
    let mean = present.iter().sum::<f64>() / present.len().max(1) as f64;
    let scores: Vec<f64> = all
        .iter()
        .map(|&i| {
            let x = frame.numeric[[i, j]];
            let x = if x.is_nan() { mean } else { x };
            if lower { -x } else { x }
        })
        .collect();
    let ap = churn::model::metrics::average_precision(&frame.label, &scores).unwrap();
    assert!((ap - v(6)).abs() < 1e-12, "{feature}: {ap} vs stored {}", v(6));
    // On generated data, the Bayes oracle on the same rows: above the model
    // and the baseline, its share of the gap as defined, and calibrated.
    let o = rows(
        &store,
        "select oracle_pr_auc, gap_closed, (metrics_json->'oracle'->'measured'->>'mean_risk')::double,
                (metrics_json->'oracle'->'measured'->>'rows')::bigint, n_test
         from production_model",
    );
    let (oracle, share, mean_oracle) = (
        o[0][0].parse::<f64>().unwrap(),
        o[0][1].parse::<f64>().unwrap(),
        o[0][2].parse::<f64>().unwrap(),
    );
    assert!(
        oracle > v(0) && oracle > v(6),
        "oracle {oracle}, model {}, baseline {}",
        v(0),
        v(6)
    );
    assert!((share - (v(0) - v(6)) / (oracle - v(6))).abs() < 1e-12);
    assert_eq!(o[0][3], o[0][4], "the oracle reads every test row");
    assert!(
        (mean_oracle - r).abs() < 0.25 * r,
        "oracle mean {mean_oracle} vs observed {r}"
    );
    // The oracles told less (not who has left; nor engagement): between the
    // baseline and the oracle told everything, and calibrated too.
    let told_less = rows(
        &store,
        "select (metrics_json->'oracle'->'measured'->'unseen_churn'->>'pr_auc')::double,
                (metrics_json->'oracle'->'measured'->'unseen_churn'->>'mean_risk')::double,
                (metrics_json->'oracle'->'measured'->'from_events'->>'pr_auc')::double,
                (metrics_json->'oracle'->'measured'->'from_events'->>'mean_risk')::double
         from production_model",
    );
    let t = |k: usize| told_less[0][k].parse::<f64>().unwrap();
    for (pr_auc, mean) in [(t(0), t(1)), (t(2), t(3))] {
        assert!(
            pr_auc < oracle && pr_auc > v(6),
            "{pr_auc} vs oracle {oracle}, baseline {}",
            v(6)
        );
        assert!((mean - r).abs() < 0.25 * r, "mean {mean} vs observed {r}");
    }
    // A test set larger than the oracles' bound: a sample of its users, all
    // rows of each, and the shares taken on those rows with the model and
    // the best input measured there. Within the bound: every row, the
    // figures train stored.
    let id = rows(&store, "select model_id from production_model")[0][0].clone();
    let model = churn::store::models::load(&store.conn, &id).unwrap();
    let scored = churn::store::scored::Scored {
        users: frame.users.clone(),
        user: frame.user.clone(),
        as_of: frame.as_of.clone(),
        label: frame.label.clone(),
        scores: vec![model.predict(&frame, &all)],
    };
    let test_rows = churn::store::truth::TestRows {
        scored: &scored,
        baseline: Some(&scores),
    };
    let dates = (m[0][18].parse().unwrap(), m[0][19].parse().unwrap());
    let at_most =
        |n: usize| churn::store::truth::ceiling_at_most(&store.conn, &config, dates, &test_rows, n).unwrap();
    let whole = at_most(frame.len());
    assert!(whole.sample().is_none());
    assert!((whole.pr_auc().unwrap() - oracle).abs() < 1e-12);
    let half = at_most(frame.len() / 2);
    // The same users and figures every time (the mean risks are summed in
    // the order the rows come, which moves their last bits).
    let again = at_most(frame.len() / 2);
    let figures = |c: &churn::store::truth::Ceiling| {
        let (u, e) = c.told_less();
        (
            c.sample().cloned(),
            c.pr_auc(),
            c.roc_auc(),
            u.map(|v| v.pr_auc),
            e.map(|v| v.pr_auc),
        )
    };
    assert_eq!(figures(&half), figures(&again));
    let sample = half.sample().unwrap().clone();
    let kept = churn::store::truth::sample_users(&frame.users, &frame.user, frame.len() / 2).unwrap();
    let on: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| kept[frame.user[i] as usize])
        .collect();
    let pick = |v: &[f64]| on.iter().map(|&i| v[i]).collect::<Vec<f64>>();
    let ap = |v: &[f64]| churn::model::metrics::average_precision(&pick(&frame.label), &pick(v)).unwrap();
    assert_eq!(sample.test_rows, frame.len());
    assert_eq!(sample.users, kept.iter().filter(|&&k| k).count());
    assert!(sample.users < frame.users.len() && on.len() < frame.len() * 3 / 4 && on.len() > frame.len() / 4);
    assert!((sample.model_pr_auc - ap(&scored.scores[0])).abs() < 1e-12);
    assert!((sample.baseline_pr_auc.unwrap() - ap(&scores)).abs() < 1e-12);
    let sampled_oracle = half.pr_auc().unwrap();
    let expected = (sample.model_pr_auc - sample.baseline_pr_auc.unwrap())
        / (sampled_oracle - sample.baseline_pr_auc.unwrap());
    assert!((half.share(v(0), Some(v(6)), sampled_oracle).unwrap() - expected).abs() < 1e-12);
    match &half {
        churn::store::truth::Ceiling::Measured {
            rows: n, from_events, ..
        } => {
            assert_eq!(*n, on.len());
            assert!(from_events.is_some(), "the oracles told less read the sample too");
        }
        other => panic!("{other:?}"),
    }
}

/// "balanced" class weights are prior-corrected: the scores stay
/// probabilities (mean risk near the observed rate), unlike the raw
/// balanced fit whose weighted mean risk is 1/2.
#[test]
fn balanced_weights_are_prior_corrected() {
    let sb = Sandbox::new();
    let store = sb.store();
    let mut config = config();
    config.train.class_weight = churn::config::ClassWeight::Balanced;
    for stage in pipeline().filter(|s| *s <= Stage::Train) {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    let m = rows(
        &store,
        "select mean_risk, pos_rate_test, pos_rate_train, class_weight, (params_json->>'prior_offset')::double
         from models",
    );
    let (mean, observed, train_rate) = (
        m[0][0].parse::<f64>().unwrap(),
        m[0][1].parse::<f64>().unwrap(),
        m[0][2].parse::<f64>().unwrap(),
    );
    assert_eq!(m[0][3], "balanced");
    let offset: f64 = m[0][4].parse().unwrap();
    assert!(
        (offset - (train_rate / (1.0 - train_rate)).ln()).abs() < 1e-9,
        "{offset}"
    );
    assert!(
        mean < 2.0 * observed && mean > 0.5 * observed,
        "mean risk {mean}, observed {observed}"
    );
}
