//! The real binary end to end, on small configs in temp folders.

use crate::common::{Sandbox, rows, stderr, stdout, table_rows};

#[test]
fn run_to_prepare_builds_the_daily_table_and_status_shows_it() {
    let sb = Sandbox::new();
    let config = sb.write("churn.toml", "[generate]\nusers = 40\ndays = 30\nseed = 1\n");
    let out = sb.churn(&["--config", config.to_str().unwrap(), "run", "--to", "prepare"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = sb.store();
    // The 40 users present on the first day have one row per observed day;
    // a later signup has one from its signup day on.
    let got = rows(
        &store,
        "select count(*), count(distinct user_id) from user_daily d join users u using (user_id)
         where u.signup_date <= date '2026-01-01'",
    );
    let days: i64 = rows(
        &store,
        "select max(activity_date) - min(activity_date) + 1 from user_daily",
    )[0][0]
        .parse()
        .unwrap();
    assert_eq!(got[0][1], "40");
    assert_eq!(got[0][0], (40 * days).to_string());
    assert_eq!(
        rows(
            &store,
            "select count(*) from (select user_id, min(activity_date) as first from user_daily group by 1)
             join users using (user_id) where first <> greatest(signup_date, date '2026-01-01')"
        ),
        vec![vec!["0"]]
    );
    assert_eq!(
        rows(
            &store,
            "select stage, status from pipeline_runs order by started_at"
        ),
        vec![
            vec!["generate", "ok"],
            vec!["validate", "ok"],
            vec!["prepare", "ok"]
        ]
    );
    drop(store);

    let out = sb.churn(&["status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("user_daily"), "{text}");
    assert!(text.contains("prepare"), "{text}");
}

#[test]
fn env_and_flags_override_the_file() {
    let sb = Sandbox::new();
    let config = sb.write("churn.toml", "[generate]\nusers = 40\ndays = 10\n");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_churn"));
    cmd.env("CHURN_GENERATE_USERS", "12")
        .env("CHURN_CONFIG", &config)
        .env("CHURN_DB", sb.db())
        .args(["run", "--stage", "generate"]);
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let present = "select count(*) from users where signup_date <= date '2026-01-01'";
    assert_eq!(rows(&sb.store(), present), vec![vec!["12"]]);
    let out = sb.churn(&[
        "--config",
        config.to_str().unwrap(),
        "run",
        "--stage",
        "generate",
        "--users",
        "7",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(rows(&sb.store(), present), vec![vec!["7"]]);
}

#[test]
fn sql_prints_the_statement_that_runs() {
    let sb = Sandbox::new();
    let out = sb.churn(&["sql", "prepare"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("-- sql/prepare/user_daily.sql\ncreate or replace table user_daily as"),
        "{text}"
    );
    let out = sb.churn(&["sql", "validate"]);
    assert!(stdout(&out).contains("-- sql/validate/events_type_known.sql"));
    // Only the stages that run SQL are offered, and a stage without is named so.
    let help = stdout(&sb.churn(&["sql", "--help"]));
    assert!(
        help.contains("[possible values: validate, prepare, features, labels, training-set, score, drift,"),
        "{help}"
    );
    let out = sb.churn(&["sql", "train"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("invalid value 'train'"), "{}", stderr(&out));
    // Pasted into DuckDB it builds the same table the stage builds.
    let out = sb.churn(&["run", "--to", "prepare", "--users", "15", "--days", "12"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = sb.store();
    let staged = table_rows(&store, "user_daily", "true");
    store.conn.execute_batch("drop table user_daily").unwrap();
    store.conn.execute_batch(&text).unwrap();
    assert_eq!(staged, table_rows(&store, "user_daily", "true"));
}

#[test]
fn errors_name_the_cause_and_the_next_step() {
    let sb = Sandbox::new();

    // Unknown config key: exit 3, the key named.
    let config = sb.write("bad.toml", "[generate]\nusrs = 10\n");
    let out = sb.churn(&["--config", config.to_str().unwrap(), "run"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("usrs"), "{}", stderr(&out));

    // A stage on a database that does not exist: exit 1, how to create it.
    let out = sb.churn(&["run", "--stage", "validate"]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(
        msg.contains("does not exist") && msg.contains("churn run"),
        "{msg}"
    );
    assert!(!sb.db().exists(), "a failed validate must not create the file");

    // ingest is not a `run` stage: exit 3 with the command to use.
    let out = sb.churn(&["run", "--stage", "ingest"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("churn ingest --users FILE --events FILE"),
        "{}",
        stderr(&out)
    );

    // Bad usage: exit 3.
    let out = sb.churn(&["run", "--from", "prepare", "--to", "generate"]);
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn a_locked_database_is_retried_then_refused() {
    let sb = Sandbox::new();
    let store = sb.store(); // this process holds the write lock
    let config = sb.write("c.toml", "[store]\nlock_timeout_s = 0.5\n");
    let out = sb.churn(&[
        "--config",
        config.to_str().unwrap(),
        "run",
        "--stage",
        "generate",
        "--users",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(msg.contains("is locked by another process"), "{msg}");
    assert!(msg.contains("wait for the other churn command"), "{msg}");
    drop(store);
    let out = sb.churn(&[
        "--config",
        config.to_str().unwrap(),
        "run",
        "--stage",
        "generate",
        "--users",
        "5",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn failed_validation_exits_1_and_stops_the_run() {
    let sb = Sandbox::new();
    let out = sb.churn(&["run", "--stage", "generate", "--users", "10", "--days", "10"]);
    assert!(out.status.success());
    {
        let store = sb.store();
        store
            .conn
            .execute_batch("update events set event_type = 'teleport' where event_id = 1")
            .unwrap();
    }
    let out = sb.churn(&["run", "--from", "validate", "--to", "prepare"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("events_type_known"), "{}", stdout(&out));
    assert!(stderr(&out).contains("validation failed"), "{}", stderr(&out));
    // The summary names the stage that stopped the run and the one skipped,
    // and how to go on.
    let text = stdout(&out);
    let line = |stage: &str| {
        text.lines()
            .find(|l| l.starts_with(stage))
            .unwrap_or_else(|| panic!("no {stage} line in {text}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(line("validate")[1], "ERROR", "{text}");
    assert_eq!(line("prepare")[..5], ["prepare", "SKIP", "-", "-", "0"], "{text}");
    assert!(
        text.contains("OK=0 WARN=0 FAIL=0 ERROR=1 SKIP=1 TOTAL=2"),
        "{text}"
    );
    assert!(
        text.contains("next: fix what the error says, then `churn") && text.contains(" run --from validate`"),
        "{text}"
    );
    let store = sb.store();
    assert_eq!(
        rows(
            &store,
            "select count(*) from pipeline_runs where stage = 'prepare'"
        ),
        vec![vec!["0"]]
    );
}

/// `churn run` ends with a summary: a row per stage (status, rows, seconds,
/// warnings), the counts, and what to open next; `--json` gives the same as
/// one object, `-q` the summary without the stages' tables; colour only
/// when asked for or on a terminal without NO_COLOR.
#[test]
fn a_run_ends_with_a_summary_and_what_to_open_next() {
    let sb = Sandbox::new();
    let config = sb.small(150, 100);
    let out = sb.churn(&["--config", &config, "run", "--to", "drift"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    // The drift stage's own table comes before the summary.
    assert!(text.contains("feature                      kind"), "{text}");
    let summary = &text[text.find("stage          status").expect("a summary")..];
    let stages: Vec<Vec<&str>> = summary
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names: Vec<&str> = stages.iter().map(|r| r[0]).collect();
    assert_eq!(
        names,
        [
            "generate",
            "validate",
            "prepare",
            "features",
            "labels",
            "training-set",
            "train",
            "promote",
            "score",
            "drift"
        ]
    );
    let store = sb.store();
    for r in &stages {
        assert!(matches!(r[1], "OK" | "WARN"), "{r:?}");
        // A stage is WARN when it logged warnings, and says how many.
        assert_eq!(r[1] == "WARN", r[4] != "0", "{r:?}");
        // The rows are the ones pipeline_runs records.
        let recorded = rows(
            &store,
            &format!(
                "select rows_out from pipeline_runs where stage = '{}' order by started_at desc limit 1",
                r[0]
            ),
        );
        assert_eq!(r[2].replace(',', ""), recorded[0][0], "{r:?}");
        assert!(r[3].parse::<f64>().unwrap() >= 0.0);
    }
    drop(store);
    assert!(summary.contains("TOTAL=10"), "{summary}");
    assert!(summary.contains("next: `churn --db"), "{summary}");
    assert!(summary.contains(" report`: the risk list"), "{summary}");
    assert!(summary.contains(" serve`: the API"), "{summary}");
    assert!(!summary.contains('\x1b'), "no colour into a pipe: {summary}");

    // -q: the summary alone on stdout, no stage table.
    let out = sb.churn(&[
        "-q", "--config", &config, "run", "--stage", "drift", "--stage", "evaluate",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let quiet = stdout(&out);
    assert!(quiet.trim_start().starts_with("stage          status"), "{quiet}");
    assert!(!quiet.contains("feature                      kind"), "{quiet}");
    // --json: one object, the same rows.
    let out = sb.churn(&["--config", &config, "run", "--stage", "drift", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("stdout is one JSON object");
    // This small world's drift check WARNs: the stage's status and warning say so.
    assert_eq!(v["status"], v["stages"][0]["status"]);
    let warned = v["stages"][0]["summary"].as_str().unwrap().starts_with("WARN");
    assert_eq!(
        warned,
        v["stages"][0]["warnings"].as_array().unwrap().len() == 1,
        "{v}"
    );
    assert_eq!(v["stages"][0]["stage"], "drift");
    assert!(v["stages"][0]["rows"].as_i64().unwrap() > 0);
    assert!(v["next"][0].as_str().unwrap().contains(" report`"), "{v}");
    // --color always colours the statuses, even into a pipe; NO_COLOR only
    // turns auto off.
    let out = sb.churn_env(
        &[("NO_COLOR", "1")],
        &["--color", "always", "run", "--stage", "drift"],
    );
    assert!(stdout(&out).contains("\x1b["), "{}", stdout(&out));
    let out = sb.churn_env(&[("NO_COLOR", "1")], &["run", "--stage", "drift"]);
    assert!(!stdout(&out).contains('\x1b'), "{}", stdout(&out));
}

/// The registry speaks MLflow's language: production (champion) and
/// challenger follow the models' status, other aliases are set by hand;
/// `show` is readable text (the curves summarised), `--json` has it all.
#[test]
fn models_have_aliases_and_a_readable_card() {
    let sb = Sandbox::new();
    let config = sb.small(300, 120);
    let out = sb.churn(&["--config", &config, "run", "--to", "promote"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let production = rows(&sb.store(), "select model_id from production_model")[0][0].clone();
    let show = |name: &str| sb.churn(&["models", "show", name]);
    for name in ["production", "@production", "@champion", production.as_str()] {
        let out = show(name);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(
            text.starts_with(&format!("model      {production} (@production)")),
            "{text}"
        );
        assert!(
            text.contains("lift by decile") && text.contains("curves PR"),
            "{text}"
        );
        assert!(
            !text.contains("\"pr_curve\""),
            "the curves are summarised: {text}"
        );
    }
    let out = show("@challenger");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("no challenger"), "{}", stderr(&out));
    // A user-set alias: shown, listed, followed by promote, removable.
    let out = sb.churn(&["models", "alias", "best-q4", "@production"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&show("@best-q4")).contains("(@production, @best-q4)"));
    let list = stdout(&sb.churn(&["models", "list"]));
    assert!(list.contains("production, best-q4"), "{list}");
    let out = sb.churn(&["models", "show", "best-q4", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(v["aliases"], serde_json::json!(["production", "best-q4"]));
    assert!(v["training_data"][0]["events"].as_i64().unwrap() > 0, "{v}");
    let out = sb.churn(&["models", "promote", "@best-q4"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("already the production model"),
        "{}",
        stderr(&out)
    );
    for (args, code, says) in [
        (
            vec!["models", "alias", "production", "@best-q4"],
            3,
            "follows the models' status",
        ),
        (
            vec!["models", "alias", "no spaces", "@best-q4"],
            3,
            "letters, digits",
        ),
        (vec!["models", "alias", "x", "nope"], 1, "no model nope"),
    ] {
        let out = sb.churn(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    assert!(sb.churn(&["models", "unalias", "@best-q4"]).status.success());
    let out = show("@best-q4");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no model @best-q4"), "{}", stderr(&out));
}
