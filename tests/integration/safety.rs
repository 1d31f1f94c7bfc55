//! Safe to operate (issue 20): loads that a kill during their commit cannot
//! tear, run records that commit with their stage, exit codes, bad values.

use churn::config::Config;
use churn::stages::{Stage, run_stage};
use churn::store::{Access, Store};

use crate::common::{Sandbox, ctx, exec, exported, rows, stderr};

fn one(store: &Store, sql: &str) -> String {
    rows(store, sql)[0][0].clone()
}

/// The tables of a simulation, without the load ids (a rerun is another
/// load).
fn contents(store: &Store) -> Vec<Vec<Vec<String>>> {
    [
        "select * exclude (load_id) from users order by user_id",
        "select * exclude (load_id) from events order by event_id",
        "select * exclude (load_id) from synthetic_truth order by user_id",
        "select first_day, last_day, users_added, events_added from simulation order by first_day",
    ]
    .iter()
    .map(|q| rows(store, q))
    .collect()
}

/// A load killed during its commit, with the engine keeping its bulk rows
/// and losing the rest (the fault hook leaves exactly that), is removed
/// on the next open for writing, and the rerun gives the uninterrupted
/// result.
#[test]
fn a_load_killed_at_its_commit_leaves_nothing_partial() {
    let sb = Sandbox::new();
    let out = sb.churn(&["run", "--stage", "generate", "--users", "200", "--days", "40"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let reference = Sandbox::new();
    std::fs::copy(sb.db(), reference.db()).unwrap();
    let before = contents(&sb.store());

    let out = sb.churn_env(
        &[("CHURN_TEST_FAULT", "torn-commit:generate")],
        &["generate", "--append-days", "20"],
    );
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    // As DuckDB leaves it: the appended rows on file, the ledger, the
    // simulation row and the run record gone.
    {
        let raw = Store::open(&sb.db(), Access::ReadOnly, std::time::Duration::from_secs(5)).unwrap();
        // The file's own table (its catalog named) holds the torn rows...
        let torn: i64 = one(&raw, "select count(*) from churn.main.events")
            .parse()
            .unwrap();
        assert!(torn > before[1].len() as i64, "the torn rows are on file: {torn}");
        // ...and a reader, before any writer recovered the file, sees only
        // the recorded loads (#31 D2).
        assert_eq!(
            one(&raw, "select count(*) from events"),
            before[1].len().to_string(),
            "a reader sees the torn rows"
        );
        assert_eq!(one(&raw, "select count(*) from simulation"), "1");
        assert_eq!(
            one(
                &raw,
                "select count(*) from pipeline_runs where stage = 'generate'"
            ),
            "1"
        );
    }
    // So does what a reader writes out: the lake of `churn export`.
    let lake = sb.path("lake");
    let out = sb.churn(&["export", "--out", lake.to_str().unwrap(), "events"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let exported: i64 = duckdb::Connection::open_in_memory()
        .unwrap()
        .query_row(
            &format!(
                "select count(*) from read_parquet('{}/**/*.parquet')",
                exported(&lake, "events").display()
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(exported, before[1].len() as i64, "export wrote the torn rows");
    // The next open for writing removes them, and says so.
    let out = sb.churn(&["run", "--stage", "validate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("events rows of incomplete load"),
        "{}",
        stderr(&out)
    );
    assert_eq!(contents(&sb.store()), before, "nothing partial survives");
    assert_eq!(
        one(
            &sb.store(),
            "select count(*) from validation_results where not passed"
        ),
        "0"
    );

    // The rerun equals the uninterrupted append.
    let out = sb.churn(&["generate", "--append-days", "20"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = reference.churn(&["generate", "--append-days", "20"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(contents(&sb.store()) == contents(&reference.store()));
}

/// A torn score (predictions appended in bulk) recovers the same way.
#[test]
fn a_score_killed_at_its_commit_keeps_the_previous_slice() {
    let sb = Sandbox::new();
    let c = sb.small(300, 100);
    let out = sb.churn(&["--config", &c, "run", "--to", "score"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let q = "select * exclude (load_id, scored_at) from predictions order by all";
    let before = rows(&sb.store(), q);
    let out = sb.churn_env(
        &[("CHURN_TEST_FAULT", "torn-commit:score")],
        &[
            "--config",
            &c,
            "run",
            "--stage",
            "score",
            "--as-of-date",
            "2026-03-01",
        ],
    );
    assert_eq!(out.status.code(), None, "killed: {}", stderr(&out));
    let store = sb.store();
    assert!(rows(&store, q) == before, "the half-scored slice is gone");
    assert_eq!(
        one(&store, "select count(*) from pipeline_runs where stage = 'score'"),
        "1"
    );
}

/// A stage's outputs and its row of pipeline_runs commit together: when the
/// record cannot be written, the outputs are rolled back; when the stage
/// fails and the record cannot be written either, the stage's own error is
/// the one reported.
#[test]
fn the_run_record_commits_with_the_stage() {
    let sb = Sandbox::new();
    let store = sb.store();
    let config = crate::common::small_config(50, 30);
    run_stage(&store, &ctx(&config), Stage::Generate).unwrap();
    run_stage(&store, &ctx(&config), Stage::Prepare).unwrap();
    let daily = one(&store, "select count(*) from user_daily");
    exec(&store, "alter table pipeline_runs rename to pipeline_runs_moved");
    exec(&store, "delete from events where user_id = 'u000001'");
    let err = run_stage(&store, &ctx(&config), Stage::Prepare).unwrap_err();
    assert!(err.to_string().contains("pipeline_runs"), "{err}");
    assert_eq!(
        one(&store, "select count(*) from user_daily"),
        daily,
        "rolled back"
    );
    // A failing stage: its own error, not the recording's.
    let mut bad = Config::default();
    bad.features.windows = vec![7];
    exec(&store, "drop table user_daily");
    let err = run_stage(&store, &ctx(&bad), Stage::Features).unwrap_err();
    assert!(
        err.to_string().contains("features needs table user_daily"),
        "{err}"
    );
    exec(&store, "alter table pipeline_runs_moved rename to pipeline_runs");
}

/// The data dictionary: after the whole pipeline every table, view and
/// column of the file has a comment an analyst can read.
#[test]
fn every_table_and_column_has_a_comment() {
    let sb = Sandbox::new();
    let c = sb.small(200, 100);
    let out = sb.churn(&["--config", &c, "run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = sb.store();
    let missing = rows(
        &store,
        "select table_name || '.' || column_name from duckdb_columns()
         where schema_name = 'main' and not internal and coalesce(comment, '') = ''
           and table_name not in (select table_name from duckdb_tables() where temporary)
         order by 1",
    );
    assert!(missing.is_empty(), "columns without a comment: {missing:?}");
    let tables = rows(
        &store,
        "select table_name from duckdb_tables() where schema_name = 'main' and coalesce(comment, '') = ''
         union all select view_name from duckdb_views() where schema_name = 'main' and not internal
           and coalesce(comment, '') = ''",
    );
    assert!(tables.is_empty(), "tables without a comment: {tables:?}");
    let n: i64 = one(
        &store,
        "select count(*) from duckdb_columns() where schema_name = 'main' and comment <> ''",
    )
    .parse()
    .unwrap();
    assert!(n > 250, "{n} columns described");
}

/// Usage and configuration errors exit 3 (2 is a monitoring FAIL): clap's
/// own errors, bad environment values, a --db that is a folder.
#[test]
fn usage_and_configuration_errors_exit_3() {
    let sb = Sandbox::new();
    let dir = sb.path("a-folder");
    std::fs::create_dir_all(&dir).unwrap();
    let folder = dir.to_str().unwrap();
    /// (environment, arguments, what the message names)
    type Case<'a> = (Vec<(&'a str, &'a str)>, Vec<&'a str>, &'a str);
    let cases: Vec<Case> = vec![
        (vec![], vec!["run", "--stage", "drift", "--jsn", "x"], "--jsn"),
        (vec![], vec!["run", "--stage", "nonsense"], "nonsense"),
        (vec![], vec!["frobnicate"], "frobnicate"),
        (vec![("CHURN_LOG_FORMAT", "xml")], vec!["status"], "xml"),
        (vec![("CHURN_DB", folder)], vec!["status"], "folder"),
        (vec![("CHURN_DB", "")], vec!["status"], ""),
        (
            vec![("CHURN_GENERATE_USERS", "many")],
            vec!["run", "--stage", "generate"],
            "generate.users",
        ),
        (
            vec![("CHURN_LABELS_WINDOW_DAYS", "30")],
            vec!["status"],
            "horizon_days",
        ),
    ];
    for (env, args, named) in cases {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_churn"));
        for (k, _) in std::env::vars() {
            if k.starts_with("CHURN_") {
                cmd.env_remove(k);
            }
        }
        if !env.iter().any(|(k, _)| *k == "CHURN_DB") {
            cmd.arg("--db").arg(sb.db());
        }
        let out = cmd.envs(env.iter().copied()).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{env:?} {args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(named), "{args:?}: {}", stderr(&out));
    }
    // Help and version succeed; the version names the DuckDB of the file.
    let out = sb.churn(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let out = sb.churn(&["--version"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        crate::common::stdout(&out).contains("DuckDB 1.5.6"),
        "{}",
        crate::common::stdout(&out)
    );
}

/// `churn status | head -1`: a closed pipe ends the command quietly, never
/// with a panic (exit 101).
#[test]
fn a_closed_pipe_is_not_a_panic() {
    let sb = Sandbox::new();
    let out = sb.churn(&["run", "--stage", "generate", "--users", "20", "--days", "10"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_churn"))
        .arg("--db")
        .arg(sb.db())
        .arg("status")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_ne!(out.status.code(), Some(101), "{}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE));
}

/// SIGTERM (what `docker stop` and Kubernetes send, also to PID 1) stops a
/// batch command with 143 and a message, and nothing of the interrupted
/// stage is kept.
#[test]
fn sigterm_stops_a_stage_and_keeps_nothing_of_it() {
    let sb = Sandbox::new();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_churn"))
        .arg("--db")
        .arg(sb.db())
        .args(["run", "--stage", "generate", "--users", "200000", "--days", "240"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped by SIGTERM during generate"),
        "{}",
        stderr(&out)
    );
    let store = sb.store();
    assert_eq!(one(&store, "select count(*) from users"), "0");
    assert_eq!(one(&store, "select count(*) from events"), "0");
    assert_eq!(one(&store, "select count(*) from pipeline_runs"), "0");
}

/// A SIGTERM that arrives just after a stage committed says that the stage
/// was kept, so that an operator does not run an appending load twice
/// (#31 D1); the stages after it do not run.
#[test]
fn sigterm_after_a_commit_says_the_stage_was_kept() {
    let sb = Sandbox::new();
    let c = sb.small(50, 60);
    let out = sb.churn_env(
        &[("CHURN_TEST_FAULT", "term-after-commit:generate")],
        &[
            "--config", &c, "run", "--stage", "generate", "--stage", "validate",
        ],
    );
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stopped by SIGTERM after generate committed: its results are kept"),
        "{}",
        stderr(&out)
    );
    let store = sb.store();
    assert_eq!(
        one(&store, "select string_agg(stage, ',') from pipeline_runs"),
        "generate"
    );
    assert_ne!(one(&store, "select count(*) from events"), "0");
}

/// In JSON mode every line is one JSON object, the final error included,
/// with message, level, stage and error at the top level.
#[test]
fn json_logs_are_one_object_a_line_to_the_last_error() {
    let sb = Sandbox::new();
    drop(sb.store());
    let out = sb.churn(&["--log-format", "json", "run", "--stage", "prepare"]);
    assert_eq!(out.status.code(), Some(1));
    let lines: Vec<serde_json::Value> = stderr(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty());
    for l in &lines {
        assert!(l["message"].is_string() && l["level"].is_string(), "{l}");
        assert!(l.get("fields").is_none(), "{l}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last["level"], "ERROR");
    assert_eq!(last["stage"], "prepare");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("prepare needs table users"),
        "{last}"
    );
    assert_eq!(last["exit_code"], 1);
}

/// Completions, and JSON for status and the registry.
#[test]
fn completions_and_json_output() {
    let sb = Sandbox::new();
    let out = sb.churn(&["completions", "bash"]);
    assert!(out.status.success());
    assert!(crate::common::stdout(&out).contains("churn"));
    let c = sb.small(200, 100);
    let out = sb.churn(&["--config", &c, "run", "--to", "promote"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json = |args: &[&str]| -> serde_json::Value {
        let out = sb.churn(args);
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_str(&crate::common::stdout(&out)).unwrap()
    };
    let status = json(&["status", "--json"]);
    assert!(
        status["tables"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["table"] == "events")
    );
    assert!(status["production_model"]["model_id"].is_string());
    let list = json(&["models", "list", "--json"]);
    let id = list[0]["model_id"].as_str().unwrap().to_string();
    let show = json(&["models", "show", &id, "--json"]);
    assert_eq!(show["model"]["model_id"], id.as_str());
    assert!(show["terms"].as_array().unwrap().len() > 10);
    assert_eq!(show["promotions"][0]["decision"], "promoted");
}

/// DuckDB fetches and loads no extension by itself on our connections.
#[test]
fn extensions_are_never_installed_or_loaded_behind_our_back() {
    let sb = Sandbox::new();
    let store = sb.store();
    assert_eq!(
        rows(
            &store,
            "select current_setting('autoinstall_known_extensions'), current_setting('autoload_known_extensions')"
        ),
        vec![vec!["false", "false"]]
    );
    // A file of another format is refused at once, without reaching out.
    let other = Sandbox::new();
    std::fs::write(
        other.db(),
        "SQLite format 3\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}",
    )
    .unwrap();
    let out = other.churn(&["status"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(!stderr(&out).contains("http"), "{}", stderr(&out));
}
