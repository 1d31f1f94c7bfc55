//! The HTML report against a fixture database written by hand: every figure
//! on the page is the stored one, in the expected place, HTML-escaped.

use chrono::NaiveDate;
use scraper::{Html, Selector};

use crate::common::{Sandbox, exec, stderr, stdout};
use churn::model::metrics::evaluate;
use churn::model::preprocess::Term;
use churn::store::models::{self, ModelRow};

fn term(name: &str, feature: Option<&str>, category: Option<&str>, coefficient: f64) -> Term {
    Term {
        term: name.into(),
        feature: feature.map(String::from),
        category: category.map(String::from),
        center: 0.0,
        scale: 1.0,
        coefficient,
        transform: Default::default(),
        by: None,
    }
}

fn row(model_id: &str, status: &str, pr_auc: f64, metrics_json: String) -> ModelRow {
    let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
    ModelRow {
        model_id: model_id.into(),
        algorithm: "logistic_regression".into(),
        role: if status == "production" {
            "train"
        } else {
            "retrain"
        }
        .into(),
        status: status.parse().unwrap(),
        created_at: d(3, 1).and_hms_opt(8, 15, 0).unwrap(),
        train_from: d(1, 1),
        train_to: d(2, 11),
        test_from: d(3, 14),
        test_to: d(3, 31),
        n_train: 82052,
        n_test: 32360,
        pos_rate_train: 0.0153,
        pos_rate_test: 0.1215,
        pr_auc,
        roc_auc: 0.9277,
        log_loss: 0.3897,
        brier: 0.1009,
        metrics_json,
        params_json: "{}".into(),
        quality: Default::default(),
    }
}

/// Two models, two decisions, one drift check, three scored users.
fn fixture(sb: &Sandbox) {
    let store = sb.store();
    let metrics = evaluate(&[1.0, 0.0, 1.0, 0.0, 0.0], &[0.9, 0.8, 0.7, 0.7, 0.1]).unwrap();
    let json = serde_json::to_string(&metrics).unwrap();
    let terms = vec![
        term("(intercept)", None, None, -1.0),
        term("active_days_7d", Some("active_days_7d"), None, 1.5),
        term("logins_7d", Some("logins_7d"), None, -2.25),
        term("plan=paid", Some("plan"), Some("paid"), 0.5),
    ];
    let production = ModelRow {
        quality: churn::store::models::Quality {
            class_weight: Some("none".into()),
            mean_risk: Some(0.1187),
            ece: Some(0.0123),
            brier_constant: Some(0.1067),
            log_loss_constant: Some(0.3712),
            baseline_feature: Some("days_since_last_activity (higher = riskier)".into()),
            baseline_pr_auc: Some(0.8523),
            pr_auc_low: Some(0.79),
            pr_auc_high: Some(0.83),
            roc_auc_low: Some(0.91),
            roc_auc_high: Some(0.94),
            lift_low: Some(-0.061),
            lift_high: Some(-0.02),
            // (0.8123 - 0.8523) / (0.9523 - 0.8523)
            oracle_pr_auc: Some(0.9523),
            gap_closed: Some(-0.4),
        },
        params_json: r#"{"horizon_days": 30, "inactive_days": 30}"#.into(),
        ..row("logreg-prod", "production", 0.8123, {
            // The oracle's figures as train records them, with the two
            // oracles told less.
            let mut with_oracle: serde_json::Value = serde_json::from_str(&json).unwrap();
            with_oracle["oracle"] = serde_json::json!({"measured": {
                "pr_auc": 0.9523, "roc_auc": 0.97, "mean_risk": 0.12, "rows": 2000,
                "unseen_churn": {"pr_auc": 0.9123, "roc_auc": 0.95, "mean_risk": 0.12, "back_days": 7},
                "from_events": {"pr_auc": 0.9023, "roc_auc": 0.94, "mean_risk": 0.12, "back_days": 7},
            }});
            with_oracle.to_string()
        })
    };
    models::insert(&store.conn, &production, &terms).unwrap();
    models::insert(
        &store.conn,
        &row("logreg-challenger", "rejected", 0.7001, json),
        &terms,
    )
    .unwrap();
    exec(
        &store,
        "insert into model_promotions values
           ('2026-03-01 08:16:00', 'logreg-prod', null, 'promoted', 'first model', 0.8123, null),
           ('2026-04-01 09:00:00', 'logreg-challenger', 'logreg-prod', 'kept', 'no gain', 0.7001, 0.8000);
         insert into drift_runs values ('run-1', 'logreg-prod', '2026-04-30 06:00:00', '2026-01-01', '2026-02-11',
           82052, '2026-04-30', 3, 4, 0.1, 0.25, 0.3, 'active_days_7d', 1, 1, 'FAIL');
         insert into drift_results values
           ('run-1', 'logins_7d', 'numeric', 0.12, 'WARN', 2, 82052, 3, 0, 0),
           ('run-1', 'active_days_7d', 'numeric', 0.3, 'FAIL', 2, 82052, 3, 0, 0),
           ('run-1', 'plan', 'categorical', 0.01, 'OK', 2, 82052, 3, 0, 0),
           ('run-1', 'churn_risk', 'score', 0.05, 'OK', 2, 82052, 3, 0, 0);
         insert into drift_bins values
           ('run-1', 'active_days_7d', 'numeric', 1, '-inf', 2.0, null, 50000, 1, 0.6094, 0.3333, 0.1),
           ('run-1', 'active_days_7d', 'numeric', 2, 2.0, 'inf', null, 32052, 2, 0.3906, 0.6667, 0.2),
           ('run-1', 'churn_risk', 'score', 1, '-inf', 0.5, null, 41026, 1, 0.5, 0.3333, 0.05),
           ('run-1', 'churn_risk', 'score', 2, 0.5, 'inf', null, 41026, 2, 0.5, 0.6667, 0.0);
         insert into performance_runs values
           ('run-e', '2026-04-30 07:00:00', 'logreg-prod', true, 'day', '2026-03-20', '2026-03-20', 1, 'test',
            1000, 120, 0.12, 0.118, 0.79, 0.9, 0.011, 3.1, 0.8123, 0.0223, 'OK'),
           ('run-e', '2026-04-30 07:00:00', 'logreg-prod', true, 'day', '2026-03-21', '2026-03-21', 1, 'test',
            1000, 125, 0.125, 0.119, 0.81, 0.91, 0.012, 3.2, 0.8123, 0.0023, 'OK'),
           ('run-e', '2026-04-30 07:00:00', 'logreg-prod', true, 'window', '2026-03-20', '2026-03-21', 2, 'test',
            2000, 245, 0.1225, 0.1185, 0.8, 0.905, 0.0101, 3.15, 0.8123, 0.0123, 'OK');
         insert into predictions (as_of_date, user_id, model_id, churn_risk, risk_rank, scored_at) values
           ('2026-04-29', 'u9', 'logreg-prod', 0.99, 1, '2026-04-29 06:00:00'),
           ('2026-04-30', 'u2', 'logreg-prod', 0.25, 3, '2026-04-30 06:00:00'),
           ('2026-04-30', '<script>alert(1)</script>', 'logreg-prod', 0.875, 1, '2026-04-30 06:00:00'),
           ('2026-04-30', 'u1', 'logreg-prod', 0.5, 2, '2026-04-30 06:00:00');
         create table user_features_daily (as_of_date date, user_id varchar, active_days_7d integer,
           logins_7d double, plan varchar, days_since_last_activity integer);
         insert into user_features_daily values
           ('2026-04-30', 'u1', 3, 1.25, 'paid', 4),
           ('2026-04-30', 'u2', null, 0.3333333, 'free', 12),
           ('2026-04-30', '<script>alert(1)</script>', 0, 0.0, 'free', null),
           ('2026-04-29', 'u1', 7, 9.0, 'paid', 0);
         insert into prediction_reasons (as_of_date, user_id, model_id, reason_rank, input, value, category,
           usual, contribution, reason) values
           ('2026-04-30', 'u1', 'logreg-prod', 2, 'plan', null, 'paid', null, 0.5, 'plan: paid'),
           ('2026-04-30', 'u1', 'logreg-prod', 1, 'logins_7d', 1.25, null, 3.0, 0.9,
            'logins in the last 7 days: 1.25 (usual 3)'),
           ('2026-04-30', '<script>alert(1)</script>', 'logreg-prod', 1, 'active_days_7d', 0, null, 2.0, 1.1,
            'active days in the last 7 days: 0 (usual 2)'),
           ('2026-04-29', 'u1', 'logreg-prod', 1, 'plan', null, 'paid', null, 0.5, 'plan: paid');",
    );
}

fn texts(doc: &Html, selector: &str) -> Vec<String> {
    let s = Selector::parse(selector).unwrap();
    doc.select(&s)
        .map(|e| {
            e.text()
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

/// Each row's cells, their texts joined by one space.
/// %XX escapes decoded (a data: URL's body).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn rows_of(doc: &Html, selector: &str) -> Vec<String> {
    let (s, td) = (Selector::parse(selector).unwrap(), Selector::parse("td").unwrap());
    doc.select(&s)
        .map(|tr| {
            tr.select(&td)
                .map(|c| {
                    c.text()
                        .collect::<String>()
                        .split_whitespace()
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn attrs(doc: &Html, selector: &str, attr: &str) -> Vec<String> {
    let s = Selector::parse(selector).unwrap();
    doc.select(&s)
        .map(|e| e.value().attr(attr).unwrap_or_default().to_string())
        .collect()
}

#[test]
fn the_report_shows_the_stored_figures() {
    let sb = Sandbox::new();
    fixture(&sb);
    let store = sb.store();
    let html = churn::report::render(&churn::report::gather(&store).unwrap()).unwrap();
    let doc = Html::parse_document(&html);

    // Model card: the models row, formatted.
    let field = |f: &str| texts(&doc, &format!("#production td[data-field={f}]"));
    assert_eq!(field("roc_auc"), ["0.9277 (0.910–0.940)"]);
    assert_eq!(field("n_train"), ["82,052"]);
    assert_eq!(field("n_test"), ["32,360"]);
    assert_eq!(field("pos_rate_train"), ["1.5%"]);
    assert_eq!(field("pos_rate_test"), ["12.2%"]);
    // Stored metrics of y = 1 0 1 0 0 at scores .9 .8 .7 .7 .1: the top 10%
    // (one row) is a positive: precision 1, lift 1 / 0.4.
    assert_eq!(field("top10"), ["1.000 (2.50×)"]);
    let windows = texts(&doc, "#production-data td");
    assert_eq!(windows[0], "2026-01-01 to 2026-02-11");
    assert_eq!(windows[1], "2026-03-14 to 2026-03-31");
    // Coefficients by size, intercept left out.
    assert_eq!(
        texts(&doc, "#production-coefficients tbody td:first-child"),
        ["logins_7d", "active_days_7d", "plan=paid"]
    );
    assert_eq!(
        texts(&doc, "#production-coefficients tbody td:nth-child(2)"),
        ["-2.2500", "1.5000", "0.5000"]
    );
    // The curves are the stored points: ROC (0,0) (0,.5) (1/3,.5) (2/3,1) (1,1).
    let roc = attrs(&doc, "#production-roc polyline", "points");
    assert_eq!(roc, ["62,186 62,99 143.3,99 224.7,12 306,12"]);
    assert_eq!(attrs(&doc, "#production-pr polyline", "points").len(), 1);
    assert_eq!(
        attrs(&doc, "#production-calibration circle", "cx").len(),
        5,
        "ten equal-count reliability bins of five rows: five non-empty"
    );
    // Calibration beside the constant, the baseline and the intervals.
    assert_eq!(field("mean_risk"), ["0.119 vs 0.121"]);
    assert_eq!(field("ece"), ["0.0123"]);
    assert_eq!(field("brier"), ["0.1009 vs 0.1067"]);
    assert_eq!(field("log_loss"), ["0.3897 vs 0.3712"]);
    assert_eq!(field("pr_auc"), ["0.8123 (0.790–0.830)"]);
    assert_eq!(
        field("baseline_feature"),
        ["days_since_last_activity (higher = riskier)"]
    );
    assert_eq!(field("lift"), ["-0.0400 (-0.061–-0.020)"]);
    // Against the best possible: the oracle's PR-AUC and the share of the gap.
    assert_eq!(field("oracle_pr_auc"), ["0.9523"]);
    assert_eq!(field("gap_closed"), ["-40%"]);
    // The oracles told less: not who has left, and neither that nor engagement.
    assert_eq!(field("oracle_unseen_pr_auc"), ["0.9123"]);
    // (0.8123 - 0.8523) / (0.9123 - 0.8523), (0.8123 - 0.8523) / (0.9023 - 0.8523)
    assert_eq!(field("unseen_gap_closed"), ["-67%"]);
    assert_eq!(field("oracle_events_pr_auc"), ["0.9023"]);
    assert_eq!(field("events_gap_closed"), ["-80%"]);
    // A model without an oracle says why.
    assert!(
        texts(&doc, "#challenger-ceiling td")
            .iter()
            .any(|t| t.starts_with("Best possible not known")),
        "{:?}",
        texts(&doc, "#challenger-ceiling td")
    );
    // Warnings: the base rate moved 1.5% -> 12.2%, and one input alone ranks better.
    let warnings = texts(&doc, "#production .warning");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("1.5% in training to 12.2%"), "{warnings:?}");
    assert!(
        warnings[1].contains("does not beat the best single input"),
        "{warnings:?}"
    );
    // A model stored without baselines says so.
    assert!(
        texts(&doc, "#challenger .warning")
            .iter()
            .any(|w| w.contains("No single-input baseline"))
    );
    // What churn_risk means, from the model's label.
    assert!(html.contains("stops within 30 days and stays away at least 30 more"));
    // Realised performance: the days on a chart, the window in the table.
    assert_eq!(attrs(&doc, "#realised-chart circle", "cx").len(), 2);
    assert_eq!(
        rows_of(&doc, "#realised-windows tbody tr"),
        ["2026-03-20 .. 2026-03-21 test 2,000 0.122 0.118 0.8000 0.0101 3.15 OK 2026-04-30 07:00:00"]
    );
    // Lift: five non-empty deciles (n = 5), highest lift 2.5.
    let lift_titles = texts(&doc, "#production-lift rect title");
    assert_eq!(lift_titles.len(), 5);
    assert!(
        lift_titles[0].starts_with("decile 1: 1 of 1 churned (100.0%), lift 2.50"),
        "{lift_titles:?}"
    );

    // The challenger gets its own card.
    assert_eq!(texts(&doc, "#challenger td[data-field=pr_auc]"), ["0.7001"]);

    // Promotions, newest first, with both scores.
    let promotions = rows_of(&doc, "#promotions-table tbody tr");
    assert_eq!(promotions.len(), 2);
    assert!(
        promotions[0].starts_with("2026-04-01 09:00:00 logreg-challenger kept 0.7001 0.8000 logreg-prod"),
        "{promotions:?}"
    );
    assert!(promotions[1].contains("promoted 0.8123 – –"), "{promotions:?}");

    // Drift: banner, features by PSI, bins of the top inputs and the score.
    let banner = texts(&doc, "#drift-status");
    assert_eq!(
        banner,
        ["FAIL: largest PSI 0.3000 (active_days_7d); 1 input(s) FAIL, 1 WARN"]
    );
    assert_eq!(
        attrs(&doc, "#drift-psi .psi-row", "data-feature"),
        ["active_days_7d", "logins_7d", "churn_risk", "plan"]
    );
    assert_eq!(
        texts(&doc, "#drift-psi .psi-value"),
        ["0.3000", "0.1200", "0.0500", "0.0100"]
    );
    // √PSI scale up to 0.3 · 1.05: the largest bar is √(1/1.05) of the track.
    let widths = attrs(&doc, "#drift-psi .psi-bar", "style");
    assert_eq!(
        widths[0],
        format!("width: {}%", ((1.0f64 / 1.05).sqrt() * 1000.0).round() / 10.0)
    );
    let bins = texts(&doc, "#bins-1 rect title");
    assert_eq!(
        bins,
        [
            "≤ 2: reference 60.94%",
            "≤ 2: current 33.33%",
            "> 2: reference 39.06%",
            "> 2: current 66.67%"
        ]
    );
    assert_eq!(
        texts(&doc, "#bins-score figcaption"),
        ["model score churn_risk — PSI 0.050 OK"]
    );

    // Risk list: the latest day of the production model, by rank, with the
    // days since the last activity, the plan and each user's own reasons of
    // that day, best first; the user id is escaped, not markup.
    let risk = rows_of(&doc, "#risk-table tbody tr");
    assert_eq!(
        risk,
        [
            "1 <script>alert(1)</script> 0.875 – free active days in the last 7 days: 0 (usual 2)",
            "2 u1 0.500 4 paid logins in the last 7 days: 1.25 (usual 3) plan: paid",
            "3 u2 0.250 12 free –"
        ]
    );
    assert_eq!(
        texts(&doc, "#risk-table thead th")[3..],
        ["days since last activity", "plan", "why"]
    );
    // The same rows to download, as CSV in a data: URL.
    let href = attrs(&doc, "#risk-csv", "href").remove(0);
    let csv = percent_decode(href.strip_prefix("data:text/csv;charset=utf-8,").unwrap());
    assert_eq!(
        csv,
        "risk_rank,user_id,churn_risk,days_since_last_activity,plan,reason_1,reason_2,reason_3\n\
         1,<script>alert(1)</script>,0.875,,free,active days in the last 7 days: 0 (usual 2),,\n\
         2,u1,0.5,4,paid,logins in the last 7 days: 1.25 (usual 3),plan: paid,\n\
         3,u2,0.25,12,free,,,\n"
    );
    // The summary comes first, then the risk list, then the detail.
    let order: Vec<String> = attrs(&doc, "main > section", "id");
    assert_eq!(order[..3], ["summary", "risk", "production"]);
    let summary = rows_of(&doc, "#summary-table tr");
    assert!(
        summary[0].contains("0.812") && summary[0].contains("0.852"),
        "{summary:?}"
    );
    assert!(summary[3].contains("3 users scored on 2026-04-30"), "{summary:?}");
    assert!(!html.contains("<script>"), "nothing in the page is executable");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || html.contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
    // Self-contained: nothing fetched from anywhere.
    for attr in ["src", "href"] {
        for v in attrs(&doc, &format!("[{attr}]"), attr) {
            assert!(
                v.starts_with('#') || v.starts_with("data:text/csv"),
                "{attr}={v} leaves the page"
            );
        }
    }
}

#[test]
fn report_command_writes_a_file_or_says_what_to_run() {
    let sb = Sandbox::new();
    drop(sb.store());
    let out = sb.churn(&["report", "--out", "reports"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("run `churn run` first"), "{}", stderr(&out));
    assert!(!sb.path("reports").exists() || std::fs::read_dir(sb.path("reports")).unwrap().count() == 0);

    fixture(&sb);
    let out = sb.churn(&["report", "--out", "reports"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = std::path::PathBuf::from(stdout(&out).trim());
    assert!(
        path.starts_with(sb.path("reports")) || path.starts_with("reports"),
        "{path:?}"
    );
    let file = sb.dir.path().join(&path);
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.contains("logreg-prod"));
    let names: Vec<String> = std::fs::read_dir(sb.path("reports"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1, "no partial file left behind: {names:?}");
    assert!(names[0].starts_with("churn-report-") && names[0].ends_with(".html"));

    // --json: what the page shows, as one object; no file written.
    let out = sb.churn(&["report", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("one JSON object");
    assert_eq!(v["production"]["row"]["model_id"], "logreg-prod");
    assert_eq!(v["risk"]["rows"][1]["user_id"], "u1");
    assert_eq!(
        v["risk"]["rows"][1]["reasons"],
        serde_json::json!(["logins in the last 7 days: 1.25 (usual 3)", "plan: paid"])
    );
    assert_eq!(std::fs::read_dir(sb.path("reports")).unwrap().count(), 1);
}
