//! ingest: good files load with canonical types; each refusal names the file,
//! line and column, and leaves the tables as they were.

use crate::common::{Sandbox, rows, stderr, stdout};

const USERS: &str = "user_id,signup_date,plan,country,marketing_source
a1,2026-01-01,paid,IN,ads
a2,2026-01-02,free,US,organic
";

const EVENTS: &str = "event_id,user_id,event_time,event_type,course_id,watch_minutes,quiz_score,amount
1,a1,2026-01-01 10:00:00,login,,,,
2,a1,2026-01-01T10:05:00,video_watch,c1,12.5,,
3,a2,2026-01-02 11:00:00,quiz_attempt,c2,,75,
4,a1,2026-01-02 09:00:00,payment_success,,,,499.00
";

/// Generates a small synthetic dataset, so refusals can be shown to keep it.
fn with_synthetic_data(sb: &Sandbox) -> Vec<Vec<String>> {
    let out = sb.churn(&["run", "--stage", "generate", "--users", "20", "--days", "10"]);
    assert!(out.status.success(), "{}", stderr(&out));
    counts(sb)
}

fn counts(sb: &Sandbox) -> Vec<Vec<String>> {
    let store = sb.store();
    rows(
        &store,
        "select (select count(*) from users), (select count(*) from events)",
    )
}

fn ingest(sb: &Sandbox, users: &std::path::Path, events: &std::path::Path) -> std::process::Output {
    sb.churn(&[
        "ingest",
        "--users",
        users.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ])
}

#[test]
fn csv_loads_with_canonical_types() {
    let sb = Sandbox::new();
    with_synthetic_data(&sb);
    let u = sb.write("users.csv", USERS);
    let e = sb.write("events.csv", EVENTS);
    let out = ingest(&sb, &u, &e);
    assert!(out.status.success(), "{}", stderr(&out));
    let store = sb.store();
    assert_eq!(
        rows(&store, "select * exclude (load_id) from users order by user_id"),
        vec![
            vec!["a1", "2026-01-01", "paid", "true", "IN", "ads"],
            vec!["a2", "2026-01-02", "free", "false", "US", "organic"],
        ]
    );
    assert_eq!(
        rows(
            &store,
            "select event_id, event_time, watch_minutes, quiz_score, amount from events order by event_id"
        ),
        vec![
            vec!["1", "2026-01-01 10:00:00", "NULL", "NULL", "NULL"],
            vec!["2", "2026-01-01 10:05:00", "12.5", "NULL", "NULL"],
            vec!["3", "2026-01-02 11:00:00", "NULL", "75.0", "NULL"],
            vec!["4", "2026-01-02 09:00:00", "NULL", "NULL", "499.0"],
        ]
    );
    assert_eq!(
        rows(
            &store,
            "select column_type from (describe events) where column_name in ('event_id', 'event_time')"
        ),
        vec![vec!["BIGINT"], vec!["TIMESTAMP"]]
    );
    // The synthetic truth no longer describes these users.
    assert_eq!(
        rows(&store, "select count(*) from synthetic_truth"),
        vec![vec!["0"]]
    );
    drop(store);
    // The pipeline goes on from there.
    let out = sb.churn(&["run", "--from", "validate", "--to", "prepare"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn parquet_loads_too() {
    let sb = Sandbox::new();
    let u = sb.write("users.csv", USERS);
    let e = sb.write("events.csv", EVENTS);
    {
        let store = sb.store();
        let (up, ep) = (sb.path("users.parquet"), sb.path("events.parquet"));
        store
            .conn
            .execute_batch(&format!(
                "copy (select * from read_csv('{}')) to '{}' (format parquet);
                 copy (select * from read_csv('{}')) to '{}' (format parquet);",
                u.display(),
                up.display(),
                e.display(),
                ep.display()
            ))
            .unwrap();
    }
    let out = ingest(&sb, &sb.path("users.parquet"), &sb.path("events.parquet"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(counts(&sb), vec![vec!["2", "4"]]);
}

/// Each refusal: exit 1, a message naming the place, the tables unchanged.
fn assert_refused(users: &str, events: &str, expected: &[&str]) {
    let sb = Sandbox::new();
    let before = with_synthetic_data(&sb);
    let u = sb.write("users.csv", users);
    let e = sb.write("events.csv", events);
    let out = ingest(&sb, &u, &e);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", stdout(&out));
    let msg = stderr(&out);
    for part in expected {
        assert!(msg.contains(part), "{part:?} not in: {msg}");
    }
    assert_eq!(counts(&sb), before, "tables changed by a refused ingest");
    let store = sb.store();
    assert_eq!(
        rows(
            &store,
            "select stage, status from pipeline_runs where stage = 'ingest'"
        ),
        vec![vec!["ingest", "failed"]]
    );
}

#[test]
fn missing_column_is_refused() {
    let users = "user_id,plan\na1,paid\n";
    assert_refused(users, EVENTS, &["users.csv is missing column(s) signup_date"]);
}

#[test]
fn unparseable_value_is_refused_with_line_and_column() {
    let events = EVENTS.replace("2026-01-02 11:00:00", "yesterday");
    assert_refused(
        USERS,
        &events,
        &[
            "events.csv, line 4, column event_time",
            "\"yesterday\"",
            "timestamp",
        ],
    );
    let events = EVENTS.replace("12.5", "twelve");
    assert_refused(USERS, &events, &["line 3, column watch_minutes"]);
}

#[test]
fn non_finite_numbers_are_refused_with_line_and_column() {
    for bad in ["NaN", "inf", "-Infinity"] {
        let events = EVENTS.replace("12.5", bad);
        assert_refused(
            USERS,
            &events,
            &["events.csv, line 3, column watch_minutes", "not a finite number"],
        );
    }
}

#[test]
fn duplicate_key_is_refused() {
    let users = format!("{USERS}a1,2026-01-05,free,UK,ads\n");
    assert_refused(&users, EVENTS, &["duplicate user_id \"a1\" at line 2 and line 4"]);
    let events = format!("{EVENTS}2,a2,2026-01-03 10:00:00,login,,,,\n");
    assert_refused(USERS, &events, &["duplicate event_id \"2\" at line 3 and line 6"]);
}

#[test]
fn corrupt_csv_is_refused() {
    let events = format!("{EVENTS}5,a1,\"2026-01-03 10:00:00,login,,,\n6,a2\n");
    assert_refused(USERS, &events, &["cannot read events file", "events.csv"]);
}

#[test]
fn unknown_extension_and_missing_file_are_refused() {
    let sb = Sandbox::new();
    let u = sb.write("users.json", USERS);
    let e = sb.write("events.csv", EVENTS);
    let out = ingest(&sb, &u, &e);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("neither .csv nor .parquet"),
        "{}",
        stderr(&out)
    );
    let out = ingest(&sb, &sb.path("nope.csv"), &e);
    assert!(
        stderr(&out).contains("nope.csv does not exist"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn append_mode_adds_new_rows_and_refuses_stored_keys() {
    let sb = Sandbox::new();
    let u = sb.write("users.csv", USERS);
    let e = sb.write("events.csv", EVENTS);
    assert!(ingest(&sb, &u, &e).status.success());
    let more_users = sb.write("u2.csv", "user_id,signup_date,plan\na3,2026-01-05,free\n");
    let more_events = sb.write(
        "e2.csv",
        "event_id,user_id,event_time,event_type\n5,a3,2026-01-05 10:00:00,login\n6,a1,2026-01-06 10:00:00,login\n",
    );
    let append = |u: &std::path::Path, e: &std::path::Path| {
        sb.churn(&[
            "ingest",
            "--mode",
            "append",
            "--users",
            u.to_str().unwrap(),
            "--events",
            e.to_str().unwrap(),
        ])
    };
    let out = append(&more_users, &more_events);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(counts(&sb), vec![vec!["3", "6"]]);

    // Appending the same files again: the first stored key is named, nothing changes.
    let out = append(&more_users, &more_events);
    assert_eq!(out.status.code(), Some(1));
    let msg = stderr(&out);
    assert!(
        msg.contains("u2.csv, line 2: user_id \"a3\" is already stored"),
        "{msg}"
    );
    let clash = sb.write("e3.csv", "event_id,user_id,event_time,event_type\n9,a1,2026-01-07 10:00:00,login\n4,a1,2026-01-07 11:00:00,login\n");
    let none = sb.write("u3.csv", "user_id,signup_date,plan\n");
    let out = append(&none, &clash);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("e3.csv, line 3: event_id \"4\" is already stored"),
        "{}",
        stderr(&out)
    );
    assert_eq!(counts(&sb), vec![vec!["3", "6"]]);
}

/// A model records the loads it was trained on (`model_data`); after a
/// replace-mode ingest removed them, score refuses the production model,
/// naming it and saying to retrain, and stores nothing.
#[test]
fn score_refuses_a_model_whose_training_data_a_replace_removed() {
    let sb = Sandbox::new();
    let config = sb.small(300, 120);
    let out = sb.churn(&["--config", &config, "run", "--to", "score"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (model, load) = {
        let store = sb.store();
        let model = rows(&store, "select model_id from production_model")[0][0].clone();
        let data = rows(
            &store,
            &format!(
                "select load_id, events, (select count(*) from events) from model_data where model_id = '{model}'"
            ),
        );
        assert_eq!(data.len(), 1, "{data:?}");
        assert_eq!(data[0][1], data[0][2], "the model saw every event row: {data:?}");
        (model, data[0][0].clone())
    };
    assert!(load.ends_with(":generate"), "{load}");
    // The same users and events again, as your own files: a new load.
    let (users, events) = (sb.path("u.parquet"), sb.path("e.parquet"));
    {
        let store = sb.store();
        store
            .conn
            .execute_batch(&format!(
                "copy (select * exclude (load_id) from users) to '{}' (format parquet);
                 copy (select * exclude (load_id) from events) to '{}' (format parquet);",
                users.display(),
                events.display()
            ))
            .unwrap();
    }
    let out = sb.churn(&[
        "ingest",
        "--mode",
        "replace",
        "--users",
        users.to_str().unwrap(),
        "--events",
        events.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let before = rows(&sb.store(), "select count(*) from predictions");
    let out = sb.churn(&["--config", &config, "run", "--stage", "score"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let msg = stderr(&out);
    assert!(
        msg.contains(&format!(
            "the production model {model} was trained on data that is no longer here"
        )) && msg.contains(&load)
            && msg.contains("churn run --from validate"),
        "{msg}"
    );
    assert_eq!(rows(&sb.store(), "select count(*) from predictions"), before);
    // status says so beside the production model.
    let status = stdout(&sb.churn(&["status"]));
    assert!(
        status.contains("its training data is no longer here (1 load(s)"),
        "{status}"
    );
}

/// A CSV whose columns are separated by semicolons (a spreadsheet set to a
/// decimal comma exports so) loads as the comma-separated one does.
#[test]
fn a_semicolon_separated_csv_loads_like_a_comma_separated_one() {
    let (a, b) = (Sandbox::new(), Sandbox::new());
    let u = a.write("users.csv", USERS);
    let e = a.write("events.csv", EVENTS);
    assert!(ingest(&a, &u, &e).status.success());
    let u = b.write("users.csv", &USERS.replace(',', ";"));
    let e = b.write("events.csv", &EVENTS.replace(',', ";"));
    let out = ingest(&b, &u, &e);
    assert!(out.status.success(), "{}", stderr(&out));
    let all = "select * exclude (load_id) from events order by event_id";
    assert_eq!(rows(&a.store(), all), rows(&b.store(), all));
    let all = "select * exclude (load_id) from users order by user_id";
    assert_eq!(rows(&a.store(), all), rows(&b.store(), all));
}
