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
    let store = sb.store();
    assert_eq!(
        rows(
            &store,
            "select count(*) from pipeline_runs where stage = 'prepare'"
        ),
        vec![vec!["0"]]
    );
}
