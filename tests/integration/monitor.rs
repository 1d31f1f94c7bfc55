//! Realised performance end to end: a model decays when the world changes
//! who leaves, evaluate exits 2, and a retrain brings the realised PR-AUC
//! back on later days (issue 19's decay scenario), through the binary.

use chrono::NaiveDate;

use crate::common::{Sandbox, rows, small_toml, stderr, stdout};

fn day(k: i64) -> String {
    (NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Duration::days(k)).to_string()
}

/// The production model's pooled window row of the last evaluate run:
/// (model, PR-AUC, test PR-AUC, status, days).
fn window(sb: &Sandbox) -> (String, f64, f64, String, String) {
    let r = rows(
        &sb.store(),
        "select model_id, pr_auc, test_pr_auc, status, slice_from || ' .. ' || slice_to from performance_runs
         where kind = 'window' and is_production order by evaluated_at desc limit 1",
    );
    (
        r[0][0].clone(),
        r[0][1].parse().unwrap(),
        r[0][2].parse().unwrap(),
        r[0][3].clone(),
        r[0][4].clone(),
    )
}

#[test]
fn a_new_churn_pattern_decays_the_model_evaluate_fails_and_a_retrain_recovers() {
    let sb = Sandbox::new();
    // From day 120 the engaged leave instead of the disengaged, and they
    // leave without fading first (they finished what they came for).
    let config = sb.write(
        "decay.toml",
        &format!(
            "{}\n[generate.drift]\nstart_day = 120\nchurn_driver = \"engagement\"\npre_churn_decay_days = 0\n",
            small_toml(1500, 120)
        ),
    );
    let c = config.to_str().unwrap();
    let rolling = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[labels]", "[train]\nwindow_days = 60\n\n[labels]");
    let rolling = sb.write("rolling.toml", &rolling).to_string_lossy().into_owned();
    let churn = |args: &[&str]| {
        let mut all = vec!["--config", c];
        all.extend_from_slice(args);
        sb.churn(&all)
    };

    // The first model, its test window scored and evaluated: OK.
    let out = churn(&["run"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("realised performance of"),
        "{}",
        stdout(&out)
    );
    let (first, realised, tested, status, _) = window(&sb);
    assert_eq!(status, "OK", "{realised} vs {tested}");

    // 150 days of the new world; the old model scores them as they come
    // (backfilled), and once their labels mature it ranks worse.
    let out = churn(&["generate", "--append-days", "150"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = churn(&[
        "run", "--stage", "prepare", "--stage", "features", "--stage", "labels",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = churn(&[
        "run",
        "--stage",
        "score",
        "--from-date",
        &day(150),
        "--to-date",
        &day(241),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = churn(&["run", "--stage", "evaluate"]);
    assert_eq!(out.status.code(), Some(2), "evaluate FAILs: {}", stderr(&out));
    assert!(
        stderr(&out).contains("realised performance FAIL"),
        "{}",
        stderr(&out)
    );
    let (model, decayed, tested, status, days) = window(&sb);
    assert_eq!((model.as_str(), status.as_str()), (first.as_str(), "FAIL"));
    eprintln!("decay: {first} realised PR-AUC {decayed:.4} on {days} vs test {tested:.4}");
    assert!(decayed < tested - 0.05);

    // Retrain on the new world, on a rolling window of the last 60 days of
    // train dates: promoted over the old model on its test rows.
    let out = sb.churn(&[
        "--config",
        &rolling,
        "run",
        "--stage",
        "training-set",
        "--stage",
        "retrain",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("promoted to production"),
        "{}",
        stdout(&out)
    );

    // 60 more days: the new model scores them, and once they mature its
    // realised PR-AUC is back near its test PR-AUC and above the decayed one.
    let out = churn(&["generate", "--append-days", "60"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = churn(&[
        "run", "--stage", "prepare", "--stage", "features", "--stage", "labels",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = churn(&[
        "run",
        "--stage",
        "score",
        "--from-date",
        &day(242),
        "--to-date",
        &day(301),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = churn(&["run", "--stage", "evaluate"]);
    let (second, recovered, tested, status, days) = window(&sb);
    eprintln!("after retrain: {second} realised PR-AUC {recovered:.4} on {days} vs test {tested:.4}");
    assert_ne!(second, first);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(status, "OK");

    // The counterfactual on the same days: had the old model stayed, it
    // would have ranked them far worse. Roll back, score, roll forward.
    for (args, ok) in [
        (vec!["models", "promote", first.as_str()], true),
        (
            vec![
                "run",
                "--stage",
                "score",
                "--from-date",
                &day(242),
                "--to-date",
                &day(301),
            ],
            true,
        ),
        (vec!["models", "promote", second.as_str()], true),
        (vec!["run", "--stage", "evaluate"], true),
    ] {
        let out = churn(&args);
        assert_eq!(out.status.success(), ok, "{args:?}: {}", stderr(&out));
    }
    let same_days = rows(
        &sb.store(),
        &format!(
            "select model_id, pr_auc, slice_from || ' .. ' || slice_to from performance_runs
             where kind = 'window' and run_id = (select max_by(run_id, evaluated_at) from performance_runs)
               and model_id in ('{first}', '{second}') order by model_id = '{second}'"
        ),
    );
    let (old, new): (f64, f64) = (same_days[0][1].parse().unwrap(), same_days[1][1].parse().unwrap());
    eprintln!(
        "same days {}: old model {old:.4}, retrained {new:.4}",
        same_days[1][2]
    );
    assert_eq!(
        same_days[0][2], same_days[1][2],
        "both windows cover the same days"
    );
    assert!(new > old + 0.02, "retrained {new} vs old {old}");
}
