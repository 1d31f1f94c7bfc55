//! Safe to operate (issue 20): loads that a kill during their commit cannot
//! tear, run records that commit with their stage, exit codes, bad values.

use churn::config::Config;
use churn::db::{Access, Store};
use churn::stages::{Stage, run_stage};

use crate::common::{Sandbox, ctx, exec, rows, stderr};

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
        let torn: i64 = one(&raw, "select count(*) from events").parse().unwrap();
        assert!(torn > before[1].len() as i64, "the torn rows are on file: {torn}");
        assert_eq!(one(&raw, "select count(*) from simulation"), "1");
        assert_eq!(
            one(
                &raw,
                "select count(*) from pipeline_runs where stage = 'generate'"
            ),
            "1"
        );
    }
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
