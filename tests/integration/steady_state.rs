//! The acceptance figures of the steady-state world and the forward-looking
//! label (issue 18), on the default config (2,000 users, 240 days) through
//! the real binary, and the label against the hidden truth on a small world.
//! Run with `-- --nocapture` to see the figures:
//!   cargo test --test integration steady_state -- --nocapture

use churn::model::baseline;
use churn::model::frame::{CATEGORICAL, Rows};
use churn::model::profile::{categorical_reference, numeric_reference};
use churn::stages::drift::{Spec, measure};
use churn::store::Store;
use churn::store::frames::{load, numeric_features};
use churn::store::models::store_reference;

use crate::common::{Sandbox, exec, rows, small_config, stderr, stdout};

fn one(store: &Store, sql: &str) -> f64 {
    rows(store, sql)[0][0].parse().unwrap()
}

/// Present users (signed up, not yet gone) on every simulated day: min, max
/// and mean.
fn population_range(store: &Store) -> (f64, f64, f64) {
    let r = rows(
        store,
        "with days as (
             select unnest(generate_series(min(activity_date), max(activity_date), interval 1 day))::date as d
             from user_daily
         ),
         present as (
             select d, count(u.user_id) as n
             from days
             left join users u on u.signup_date <= d
             left join synthetic_truth t on t.user_id = u.user_id
             where t.churn_date is null or t.churn_date > d
             group by d
         )
         select min(n), max(n), avg(n) from present",
    );
    (
        r[0][0].parse().unwrap(),
        r[0][1].parse().unwrap(),
        r[0][2].parse().unwrap(),
    )
}

/// The positive rate of training_set in consecutive blocks of 30 as-of
/// dates (a trailing block shorter than 30 dates is left out).
fn monthly_base_rates(store: &Store) -> Vec<(String, f64)> {
    rows(
        store,
        "with dates as (
             select as_of_date, (row_number() over (order by as_of_date) - 1) // 30 as block
             from (select distinct as_of_date from training_set)
         ),
         blocks as (select block from dates group by block having count(*) = 30)
         select min(t.as_of_date)::varchar, avg(t.churn_label)
         from training_set t join dates using (as_of_date) join blocks using (block)
         group by block order by block",
    )
    .into_iter()
    .map(|r| (r[0].clone(), r[1].parse().unwrap()))
    .collect()
}

/// Label against the hidden truth over population rows: recall of "churn
/// date <= d + horizon", precision against "churn date <= d + horizon +
/// allowance", and positives of users gone more than `recent` days before d.
fn label_agreement(store: &Store, horizon: u32, allowance: u32, recent: u32) -> (f64, f64, f64) {
    let r = rows(
        store,
        &format!(
            "select
                 avg(s.churn_label) filter (where t.churn_date <= s.as_of_date + {horizon}),
                 avg((t.churn_date <= s.as_of_date + {})::int) filter (where s.churn_label = 1),
                 count(*) filter (where s.churn_label = 1 and t.churn_date < s.as_of_date - {recent})
             from training_set s join synthetic_truth t using (user_id)",
            horizon + allowance
        ),
    );
    (
        r[0][0].parse().unwrap(),
        r[0][1].parse().unwrap(),
        r[0][2].parse().unwrap(),
    )
}

/// PSI of every model input between the first and the last 30 labelled
/// as-of dates of training_set, by the drift stage's own binning and SQL.
fn psi_first_vs_last_month(store: &Store) -> Vec<(String, f64)> {
    let dates = rows(store, "select distinct as_of_date from training_set order by 1");
    let date = |k: usize| dates[k][0].parse::<chrono::NaiveDate>().unwrap();
    let (first, last) = (
        (date(0), date(29)),
        (date(dates.len() - 30), date(dates.len() - 1)),
    );
    let numeric = numeric_features(&store.conn, "training_set").unwrap();
    let frame = load(
        &store.conn,
        "training_set",
        &Rows::Dates(vec![first]),
        &numeric,
        false,
    )
    .unwrap();
    let mut reference = Vec::new();
    for (j, name) in numeric.iter().enumerate() {
        let values: Vec<f64> = frame.numeric.column(j).to_vec();
        reference.extend(numeric_reference(name, "numeric", &values, 10));
    }
    for (k, name) in CATEGORICAL.iter().enumerate() {
        reference.extend(categorical_reference(
            name,
            (0..frame.len()).map(|i| frame.category(k, i)),
        ));
    }
    exec(
        store,
        "delete from model_reference_bins where model_id = 'first-month'",
    );
    store_reference(&store.conn, "first-month", 10, &reference).unwrap();
    exec(
        store,
        &format!(
            "create or replace temp table drift_current as
             select * from training_set where as_of_date between '{}' and '{}'",
            last.0, last.1
        ),
    );
    let spec = Spec {
        run_id: "first-vs-last-month".into(),
        model_id: "first-month".into(),
        n_bins: 10,
        reference: &reference,
        warn_psi: 0.1,
        fail_psi: 0.25,
    };
    measure(&store.conn, &spec)
        .unwrap()
        .into_iter()
        .map(|f| (f.feature, f.psi))
        .collect()
}

fn drift_report(sb: &Sandbox, name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(sb.path(name)).unwrap()).unwrap()
}

/// The input with the largest PSI of a drift report (the score excluded).
fn top_input(report: &serde_json::Value) -> (String, f64) {
    let f = report["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] != "score")
        .max_by(|a, b| a["psi"].as_f64().unwrap().total_cmp(&b["psi"].as_f64().unwrap()))
        .unwrap();
    (
        f["feature"].as_str().unwrap().to_string(),
        f["psi"].as_f64().unwrap(),
    )
}

#[test]
fn the_default_world_is_steady_its_labels_honest_and_its_drift_ok() {
    let sb = Sandbox::new();
    let out = sb.churn(&["run", "--drift-report", "drift.json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "make run on stable data exits 0: {}",
        stderr(&out)
    );
    assert!(stdout(&out).contains("(OK)"), "{}", stdout(&out));
    let report = drift_report(&sb, "drift.json");
    assert_eq!(report["status"], "OK");
    println!(
        "drift on the default data: OK, max PSI {} ({})",
        report["max_psi"], report["max_psi_feature"]
    );

    let store = sb.store();
    // 1. The population stays within ±10% of its mean.
    let (lo, hi, mean) = population_range(&store);
    println!("present users per day: min {lo}, max {hi}, mean {mean:.1}");
    assert!(lo >= 0.9 * mean && hi <= 1.1 * mean, "{lo}..{hi} around {mean}");
    // The base rate within ±20% of its mean, month to month.
    let rates = monthly_base_rates(&store);
    let mean_rate = rates.iter().map(|(_, r)| r).sum::<f64>() / rates.len() as f64;
    for (from, rate) in &rates {
        println!("base rate of the 30 as-of dates from {from}: {rate:.4}");
        assert!(
            (rate / mean_rate - 1.0).abs() <= 0.2,
            "{from}: {rate} vs mean {mean_rate}"
        );
    }
    assert!(rates.len() >= 4, "{rates:?}");
    // Every model input's PSI, first vs last month of labelled dates, < 0.05.
    let psi = psi_first_vs_last_month(&store);
    let worst = psi.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    println!(
        "PSI first vs last month over {} inputs: max {:.4} ({}); days_since_signup {:.4}",
        psi.len(),
        worst.1,
        worst.0,
        psi.iter().find(|(f, _)| f == "days_since_signup").unwrap().1
    );
    assert!(psi.len() > 40, "{psi:?}");
    assert!(worst.1 < 0.05, "{worst:?}");

    // 2. The label against synthetic_truth, over population rows.
    let (recall, precision, gone) = label_agreement(&store, 30, 21, 7);
    let (_, precision_at_horizon, _) = label_agreement(&store, 30, 0, 7);
    println!(
        "label vs truth: recall {recall:.4} (churn <= d+30), precision {precision:.4} (churn <= d+51), \
         {precision_at_horizon:.4} (churn <= d+30); positives gone > 7 days before d: {gone}"
    );
    assert!(recall >= 0.97 && precision >= 0.97 && gone == 0.0);

    // The model on the new target, and the best single input on its test rows.
    let model = rows(
        &store,
        "select pr_auc, roc_auc, pos_rate_test, pos_rate_train, test_from, test_to, n_test from production_model",
    );
    let test = Rows::Dates(vec![(model[0][4].parse().unwrap(), model[0][5].parse().unwrap())]);
    let numeric = numeric_features(&store.conn, "training_set").unwrap();
    let frame = load(&store.conn, "training_set", &test, &numeric, true).unwrap();
    let all: Vec<usize> = (0..frame.len()).collect();
    let best = baseline::best_single_input(&frame, &all).unwrap().unwrap();
    println!(
        "model on the test window ({} rows): PR-AUC {}, ROC-AUC {}, base rate {} (train {}); \
         best single input {} PR-AUC {:.4}",
        model[0][6],
        model[0][0],
        model[0][1],
        model[0][2],
        model[0][3],
        best.describe(),
        best.pr_auc
    );
    let base_rate: f64 = model[0][2].parse().unwrap();
    assert!(best.pr_auc > base_rate, "a single input ranks better than chance");
    // Honest risk (issue 19) on the default data: calibrated, better than
    // the constant, and ahead of the best single input by 0.02.
    let q = rows(
        &store,
        "select ece, mean_risk, pos_rate_test, brier, brier_constant, pr_auc - baseline_pr_auc, baseline_feature,
                lift_low, lift_high
         from production_model",
    );
    let v = |k: usize| q[0][k].parse::<f64>().unwrap();
    println!(
        "calibration: ECE {:.4}, mean risk {:.4} vs observed {:.4}, Brier {:.4} vs constant {:.4}; \
         lift over {} {:.4} (95% interval {:.4} to {:.4})",
        v(0),
        v(1),
        v(2),
        v(3),
        v(4),
        q[0][6],
        v(5),
        v(7),
        v(8)
    );
    assert!(v(0) <= 0.02, "ECE {}", v(0));
    assert!((v(1) / v(2) - 1.0).abs() <= 0.1, "mean risk {} vs {}", v(1), v(2));
    assert!(v(3) < v(4), "Brier {} vs constant {}", v(3), v(4));
    assert!(v(5) >= 0.02, "lift over the best single input {}", v(5));
    assert_eq!(
        q[0][6],
        best.describe(),
        "train's baseline is the one recomputed here"
    );
    drop(store);

    // 4. A planted change: watch minutes x6 in the last 30 days of events,
    // then prepare, features and score again: drift FAILs on watch minutes.
    let planted = Sandbox::new();
    std::fs::copy(sb.db(), planted.db()).unwrap();
    let store = planted.store();
    exec(
        &store,
        "update events set watch_minutes = watch_minutes * 6
         where event_time >= (select max(event_time)::date - 29 from events)",
    );
    drop(store);
    // Rows edited in place are no load: only a rebuild sees them.
    let out = planted.churn(&[
        "run",
        "--full",
        "--stage",
        "prepare",
        "--stage",
        "features",
        "--stage",
        "score",
        "--stage",
        "drift",
        "--drift-report",
        "planted.json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let (feature, psi) = top_input(&drift_report(&planted, "planted.json"));
    println!("planted watch minutes x6: FAIL, top input {feature} PSI {psi:.3}");
    assert!(feature.starts_with("watch_minutes"), "{feature} {psi}");

    // The drift scenario: 30 appended days with less activity and shorter
    // videos FAIL, the top input one the scenario moves.
    let drifted = Sandbox::new();
    std::fs::copy(sb.db(), drifted.db()).unwrap();
    let scenario = drifted.write(
        "drifted.toml",
        "[generate.drift]\nstart_day = 240\nactivity_multiplier = 0.4\nwatch_minutes_multiplier = 0.5\n",
    );
    let c = scenario.to_str().unwrap();
    let out = drifted.churn(&["--config", c, "generate", "--append-days", "30"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = drifted.churn(&[
        "--config",
        c,
        "run",
        "--stage",
        "prepare",
        "--stage",
        "features",
        "--stage",
        "score",
        "--stage",
        "drift",
        "--drift-report",
        "scenario.json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let (feature, psi) = top_input(&drift_report(&drifted, "scenario.json"));
    println!("drift scenario (activity x0.4, watch minutes x0.5): FAIL, top input {feature} PSI {psi:.3}");
    let moved = [
        "active_days_",
        "logins_",
        "events_",
        "watch_minutes_",
        "quiz_attempts_",
        "days_since_last",
    ];
    assert!(moved.iter().any(|m| feature.starts_with(m)), "{feature} {psi}");
}

#[test]
fn labels_agree_with_the_hidden_truth_on_a_small_world() {
    // 600 users, 200 days, the default label (30 + 30 days, 7-day recency).
    let sb = Sandbox::new();
    let out = sb.churn(&["run", "--to", "training-set", "--users", "600", "--days", "200"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = sb.store();
    let positives = one(&store, "select sum(churn_label) from training_set");
    assert!(positives > 100.0, "{positives} positive rows");
    let (recall, precision, gone) = label_agreement(&store, 30, 21, 7);
    assert!(recall >= 0.97, "recall {recall}");
    assert!(precision >= 0.97, "precision {precision}");
    assert_eq!(gone, 0.0, "positives of users gone before the population window");
    // The scaled-down config of the other tests keeps the same promise with
    // its own horizon and decay (14 + 14 days, 10 days of fading).
    let small = Sandbox::new();
    let config = small_config(600, 120);
    let store = small.store();
    for stage in [
        churn::stages::Stage::Generate,
        churn::stages::Stage::Prepare,
        churn::stages::Stage::Features,
        churn::stages::Stage::Labels,
        churn::stages::Stage::TrainingSet,
    ] {
        churn::stages::run_stage(&store, &crate::common::ctx(&config), stage).unwrap();
    }
    let (recall, precision, gone) = label_agreement(&store, 14, 10, 7);
    assert!(
        recall >= 0.97 && precision >= 0.97 && gone == 0.0,
        "{recall} {precision} {gone}"
    );
}
