//! prepare: user_daily against hand-computed rows.

use churn::config::Config;
use churn::stages::{Ctx, Stage, prepare, run_stage};

use crate::common::{Sandbox, ctx, exec, rows, table_rows};

/// Dataset dates run from 2026-01-01 (first event) to 2026-01-04 (last event).
/// u1: signs up on the first day; two quizzes on day 1 (avg 70), a payment on
///     day 2, nothing on day 3, an enrol and a ticket on day 4.
/// u2: signs up 2026-01-03, never has an event.
/// u3: signed up 2025-12-20, before the data starts: rows start 2026-01-01.
/// u4: signs up after the last event date: no rows.
const FIXTURE: &str = "
insert into users (user_id, signup_date, plan, is_paid, country, marketing_source) values
    ('u1', '2026-01-01', 'paid', true, 'IN', 'ads'),
    ('u2', '2026-01-03', 'free', false, 'US', 'organic'),
    ('u3', '2025-12-20', 'free', false, 'UK', 'referral'),
    ('u4', '2026-01-10', 'free', false, 'CA', 'youtube');
insert into events (event_id, user_id, event_time, event_type, course_id, watch_minutes, quiz_score, amount) values
    (1, 'u1', '2026-01-01 10:00:00', 'login', null, null, null, null),
    (2, 'u1', '2026-01-01 10:05:00', 'video_watch', 'c1', 12.5, null, null),
    (3, 'u1', '2026-01-01 10:10:00', 'quiz_attempt', 'c1', null, 80, null),
    (4, 'u1', '2026-01-01 23:59:59', 'quiz_attempt', 'c2', null, 60, null),
    (5, 'u1', '2026-01-02 00:00:00', 'payment_success', null, null, null, 499),
    (6, 'u1', '2026-01-04 08:00:00', 'course_enroll', 'c3', null, null, null),
    (7, 'u1', '2026-01-04 09:00:00', 'support_ticket', null, null, null, null),
    (8, 'u3', '2026-01-03 12:00:00', 'login', null, null, null, null),
    (9, 'u3', '2026-01-03 12:30:00', 'payment_failed', null, null, null, 300),
    (10, 'u3', '2026-01-03 13:00:00', 'video_watch', 'c2', 7.25, null, null),
    (11, 'u3', '2026-01-03 13:10:00', 'video_watch', 'c2', 2.75, null, null);
";

#[test]
fn user_daily_matches_hand_computed_rows() {
    let sb = Sandbox::new();
    let store = sb.store();
    exec(&store, FIXTURE);
    let config = Config::default();
    let out = run_stage(&store, &ctx(&config), Stage::Prepare).unwrap();
    assert_eq!(out.rows_out, 10);

    let got = rows(
        &store,
        "select user_id, activity_date, is_active_day, total_events, logins_count, enroll_count,
                watch_minutes_sum, quiz_attempts_count, quiz_avg_score, payment_success_count,
                payment_failed_count, support_ticket_count, days_since_signup, plan, is_paid, country
         from user_daily order by user_id, activity_date",
    );
    // user, date, active, events, logins, enroll, watch, quizzes, quiz avg,
    // pay ok, pay failed, tickets, days since signup, plan, is_paid, country
    let expected: Vec<Vec<&str>> = vec![
        vec![
            "u1",
            "2026-01-01",
            "1",
            "4",
            "1",
            "0",
            "12.5",
            "2",
            "70.0",
            "0",
            "0",
            "0",
            "0",
            "paid",
            "true",
            "IN",
        ],
        vec![
            "u1",
            "2026-01-02",
            "1",
            "1",
            "0",
            "0",
            "0.0",
            "0",
            "NULL",
            "1",
            "0",
            "0",
            "1",
            "paid",
            "true",
            "IN",
        ],
        vec![
            "u1",
            "2026-01-03",
            "0",
            "0",
            "0",
            "0",
            "0.0",
            "0",
            "NULL",
            "0",
            "0",
            "0",
            "2",
            "paid",
            "true",
            "IN",
        ],
        vec![
            "u1",
            "2026-01-04",
            "1",
            "2",
            "0",
            "1",
            "0.0",
            "0",
            "NULL",
            "0",
            "0",
            "1",
            "3",
            "paid",
            "true",
            "IN",
        ],
        vec![
            "u2",
            "2026-01-03",
            "0",
            "0",
            "0",
            "0",
            "0.0",
            "0",
            "NULL",
            "0",
            "0",
            "0",
            "0",
            "free",
            "false",
            "US",
        ],
        vec![
            "u2",
            "2026-01-04",
            "0",
            "0",
            "0",
            "0",
            "0.0",
            "0",
            "NULL",
            "0",
            "0",
            "0",
            "1",
            "free",
            "false",
            "US",
        ],
        vec![
            "u3",
            "2026-01-01",
            "0",
            "0",
            "0",
            "0",
            "0.0",
            "0",
            "NULL",
            "0",
            "0",
            "0",
            "12",
            "free",
            "false",
            "UK",
        ],
        vec![
            "u3",
            "2026-01-02",
            "0",
            "0",
            "0",
            "0",
            "0.0",
            "0",
            "NULL",
            "0",
            "0",
            "0",
            "13",
            "free",
            "false",
            "UK",
        ],
        vec![
            "u3",
            "2026-01-03",
            "1",
            "4",
            "1",
            "0",
            "10.0",
            "0",
            "NULL",
            "0",
            "1",
            "0",
            "14",
            "free",
            "false",
            "UK",
        ],
        vec![
            "u3",
            "2026-01-04",
            "0",
            "0",
            "0",
            "0",
            "0.0",
            "0",
            "NULL",
            "0",
            "0",
            "0",
            "15",
            "free",
            "false",
            "UK",
        ],
    ];
    assert_eq!(got, expected);
}

#[test]
fn prepare_is_idempotent_and_recorded() {
    let sb = Sandbox::new();
    let store = sb.store();
    exec(&store, FIXTURE);
    let config = Config::default();
    run_stage(&store, &ctx(&config), Stage::Prepare).unwrap();
    let first = table_rows(&store, "user_daily", "true");
    // Nothing new: the second run has nothing to do (docs/design.md §9).
    run_stage(&store, &ctx(&config), Stage::Prepare).unwrap();
    assert_eq!(first, table_rows(&store, "user_daily", "true"));
    let rebuilt = Ctx {
        rebuild: true,
        ..ctx(&config)
    };
    run_stage(&store, &rebuilt, Stage::Prepare).unwrap();
    assert_eq!(first, table_rows(&store, "user_daily", "true"));
    let runs = rows(
        &store,
        "select stage, status, rows_out, params_json->>'mode' from pipeline_runs order by started_at",
    );
    assert_eq!(
        runs,
        vec![
            vec!["prepare", "ok", "10", "full"],
            vec!["prepare", "ok", "0", "incremental"],
            vec!["prepare", "ok", "10", "full"]
        ]
    );
}

#[test]
fn prepare_without_data_names_the_stage_to_run() {
    let sb = Sandbox::new();
    let store = sb.store();
    let config = Config::default();
    let err = run_stage(&store, &ctx(&config), Stage::Prepare).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("prepare needs table users"), "{msg}");
    assert!(msg.contains("churn run --stage generate"), "{msg}");
    let runs = rows(&store, "select stage, status from pipeline_runs");
    assert_eq!(runs, vec![vec!["prepare", "failed"]]);
}

/// In batches of users (two here: u1..u2 and u3..u4, cut by the events
/// before them; u2 and u4 have no events) the table comes out row for row
/// as from the one statement, each batch in date order (the one statement
/// is one batch: its rows are all in date order; the users of a day are in
/// no order).
#[test]
fn prepare_in_batches_builds_the_same_rows_each_batch_in_date_order() {
    let sb = Sandbox::new();
    let store = sb.store();
    exec(&store, FIXTURE);
    let config = Config::default();
    let sql_ctx = churn::sql::SqlContext::new(&config);
    let in_order = "select * from user_daily order by user_id, activity_date";
    // The rows as written: (batch, day), which must not go down.
    let written = |batch_of: &dyn Fn(&str) -> u8| -> Vec<(u8, String)> {
        rows(
            &store,
            "select user_id, activity_date::varchar from (select rowid, * from user_daily) order by rowid",
        )
        .into_iter()
        .map(|r| (batch_of(&r[0]), r[1].clone()))
        .collect()
    };
    let in_date_order = |w: &[(u8, String)]| w.windows(2).all(|p| p[0] <= p[1]);
    let whole = prepare::run_in_batches(&store.conn, &sql_ctx, 1_000).unwrap();
    assert_eq!(whole.params["batches"], 1);
    let expected = rows(&store, in_order);
    let one = written(&|_| 0);
    assert_eq!(one.len(), 10);
    assert!(in_date_order(&one), "{one:?}");
    let two_batches = |user: &str| u8::from(user > "u2");
    let batched = prepare::run_in_batches(&store.conn, &sql_ctx, 3).unwrap();
    assert_eq!(batched.params["batches"], 2);
    assert_eq!(batched.rows_out, 10);
    assert_eq!(rows(&store, in_order), expected);
    let two = written(&two_batches);
    assert!(in_date_order(&two), "{two:?}");
    // One event per batch: every user with events starts a batch of its own,
    // a user without events joins the batch before it.
    let single = prepare::run_in_batches(&store.conn, &sql_ctx, 1).unwrap();
    assert_eq!(single.params["batches"], 2, "{:?}", single.params);
    assert_eq!(rows(&store, in_order), expected);
    let two = written(&two_batches);
    assert!(in_date_order(&two), "{two:?}");
}

/// One ingested event dated 2100 would give every user a row for every day
/// up to it: prepare refuses it, naming the event, whatever severity its
/// validate check has, and the stored table stays as it was.
#[test]
fn one_far_future_event_never_grows_the_grid() {
    let sb = Sandbox::new();
    let store = sb.store();
    exec(&store, FIXTURE);
    let config = Config::default();
    run_stage(&store, &ctx(&config), Stage::Prepare).unwrap();
    let before = table_rows(&store, "user_daily", "true");
    exec(
        &store,
        "insert into loads values ('run-x:ingest', 'run-x', 'ingest', '2026-01-05 00:00:00', '{}');
         update events set load_id = 'run-x:ingest';
         update events set event_time = '2100-01-01 00:00:00' where event_id = 7",
    );
    let mut lenient = Config::default();
    lenient
        .validate
        .severity
        .insert("events_time_not_after_load".into(), churn::config::Severity::Off);
    let err = run_stage(&store, &ctx(&lenient), Stage::Prepare).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("event 7 of user u1") && text.contains("2100-01-01"),
        "{text}"
    );
    assert!(text.contains("validate.future_slack_days"), "{text}");
    assert_eq!(
        table_rows(&store, "user_daily", "true"),
        before,
        "user_daily is unchanged"
    );
    // A date before validate.earliest_date, likewise.
    exec(
        &store,
        "update events set event_time = '1900-01-01 00:00:00' where event_id = 7",
    );
    let err = run_stage(&store, &ctx(&config), Stage::Prepare).unwrap_err();
    assert!(err.to_string().contains("validate.earliest_date"), "{err}");
}
