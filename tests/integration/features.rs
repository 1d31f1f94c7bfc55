//! features, labels, training-set: hand-computed rows at the window edges,
//! point-in-time correctness, label horizons and populations.

use churn::config::{Config, Population};
use churn::db::Store;
use churn::stages::{Stage, run_stage};

use crate::common::{Sandbox, ctx, exec, rows, small_config, table_rows};

/// Day k is 2026-01-01 + k; the data runs from day 0 to day 39 (2026-02-09).
/// A (paid, signs up day 0): active on days 0, 5, 6, 20, 31, 32, 36.
///   day 0: login, 10 watch minutes, payment ok      (3 events)
///   day 5: login, quiz 80                           (2)
///   day 6: login, quizzes 50 and 70 (daily avg 60)  (3)
///   day 20: login, quiz 90, 30 watch minutes        (3)
///   day 31: payment failed (1); day 32: payment ok (1); day 36: login, ticket (2)
/// B (signs up day 9): never active.
/// C (signed up 2025-12-01, before the data): one login on day 3.
/// D (signs up day 0): one login on day 39, the last observed day.
const FIXTURE: &str = "
insert into users values
    ('A', '2026-01-01', 'paid', true, 'IN', 'ads'),
    ('B', '2026-01-10', 'free', false, 'US', 'organic'),
    ('C', '2025-12-01', 'free', false, 'UK', 'referral'),
    ('D', '2026-01-01', 'free', false, 'SG', 'youtube');
insert into events values
    (1, 'A', '2026-01-01 09:00:00', 'login', null, null, null, null),
    (2, 'A', '2026-01-01 09:10:00', 'video_watch', 'c1', 10, null, null),
    (3, 'A', '2026-01-01 09:20:00', 'payment_success', null, null, null, 499),
    (4, 'A', '2026-01-06 09:00:00', 'login', null, null, null, null),
    (5, 'A', '2026-01-06 09:10:00', 'quiz_attempt', 'c1', null, 80, null),
    (6, 'A', '2026-01-07 09:00:00', 'login', null, null, null, null),
    (7, 'A', '2026-01-07 09:10:00', 'quiz_attempt', 'c1', null, 50, null),
    (8, 'A', '2026-01-07 09:20:00', 'quiz_attempt', 'c2', null, 70, null),
    (9, 'A', '2026-01-21 09:00:00', 'login', null, null, null, null),
    (10, 'A', '2026-01-21 09:10:00', 'quiz_attempt', 'c3', null, 90, null),
    (11, 'A', '2026-01-21 09:20:00', 'video_watch', 'c3', 30, null, null),
    (12, 'A', '2026-02-01 09:00:00', 'payment_failed', null, null, null, 499),
    (13, 'A', '2026-02-02 09:00:00', 'payment_success', null, null, null, 499),
    (14, 'A', '2026-02-06 09:00:00', 'login', null, null, null, null),
    (15, 'A', '2026-02-06 09:10:00', 'support_ticket', null, null, null, null),
    (16, 'C', '2026-01-04 12:00:00', 'login', null, null, null, null),
    (17, 'D', '2026-02-09 12:00:00', 'login', null, null, null, null);
";

fn build(config: &Config, stages: &[Stage]) -> (Sandbox, Store) {
    let sb = Sandbox::new();
    let store = sb.store();
    exec(&store, FIXTURE);
    for &stage in stages {
        run_stage(&store, &ctx(config), stage).unwrap();
    }
    (sb, store)
}

#[test]
fn rolling_features_match_hand_computed_values_at_the_window_edges() {
    let config = Config::default();
    let (_sb, store) = build(&config, &[Stage::Prepare, Stage::Features]);
    let got = rows(
        &store,
        "select user_id, as_of_date,
                active_days_7d, events_7d, quiz_avg_score_7d, active_days_14d,
                active_days_30d, events_30d, watch_minutes_30d, quiz_attempts_30d, quiz_avg_score_30d,
                payment_success_30d, payment_failed_30d, payment_fail_rate_30d,
                days_since_last_activity, days_since_signup
         from user_features_daily
         where (user_id = 'A' and as_of_date in ('2026-01-07', '2026-01-08', '2026-01-14', '2026-01-15',
                                                 '2026-01-30', '2026-01-31', '2026-02-01', '2026-02-02',
                                                 '2026-02-05'))
            or (user_id = 'B' and as_of_date in ('2026-01-10', '2026-01-21'))
            or (user_id = 'C' and as_of_date in ('2026-01-01', '2026-01-04', '2026-01-11'))
         order by user_id, as_of_date",
    );
    #[rustfmt::skip]
    let expected: Vec<Vec<&str>> = vec![
        //            date          a7   e7   q7     a14  a30  e30   w30    qa30 q30                  ps30 pf30 rate   dsla  dss
        vec!["A", "2026-01-07", "3", "8", "70.0", "3", "3", "8",  "10.0", "3", "70.0",              "1", "0", "0.0", "0",  "6"],
        // day 7 = W+1 of the 7-day window: day 0 leaves it
        vec!["A", "2026-01-08", "2", "5", "70.0", "3", "3", "8",  "10.0", "3", "70.0",              "1", "0", "0.0", "1",  "7"],
        vec!["A", "2026-01-14", "0", "0", "NULL", "3", "3", "8",  "10.0", "3", "70.0",              "1", "0", "0.0", "7",  "13"],
        // day 14 = W+1 of the 14-day window
        vec!["A", "2026-01-15", "0", "0", "NULL", "2", "3", "8",  "10.0", "3", "70.0",              "1", "0", "0.0", "8",  "14"],
        vec!["A", "2026-01-30", "0", "0", "NULL", "1", "4", "11", "40.0", "4", "76.66666666666667", "1", "0", "0.0", "9",  "29"],
        // day 30 = W+1 of the 30-day window: day 0 and its payment leave it
        vec!["A", "2026-01-31", "0", "0", "NULL", "1", "3", "8",  "30.0", "4", "76.66666666666667", "0", "0", "0.0", "10", "30"],
        vec!["A", "2026-02-01", "1", "1", "NULL", "2", "4", "9",  "30.0", "4", "76.66666666666667", "0", "1", "1.0", "0",  "31"],
        vec!["A", "2026-02-02", "2", "2", "NULL", "3", "5", "10", "30.0", "4", "76.66666666666667", "1", "1", "0.5", "0",  "32"],
        vec!["A", "2026-02-05", "2", "2", "NULL", "2", "4", "8",  "30.0", "3", "75.0",              "1", "1", "0.5", "3",  "35"],
        // never active: days since last activity = days since signup
        vec!["B", "2026-01-10", "0", "0", "NULL", "0", "0", "0",  "0.0",  "0", "NULL",              "0", "0", "0.0", "0",  "0"],
        vec!["B", "2026-01-21", "0", "0", "NULL", "0", "0", "0",  "0.0",  "0", "NULL",              "0", "0", "0.0", "11", "11"],
        vec!["C", "2026-01-01", "0", "0", "NULL", "0", "0", "0",  "0.0",  "0", "NULL",              "0", "0", "0.0", "31", "31"],
        vec!["C", "2026-01-04", "1", "1", "NULL", "1", "1", "1",  "0.0",  "0", "NULL",              "0", "0", "0.0", "0",  "34"],
        vec!["C", "2026-01-11", "0", "0", "NULL", "1", "1", "1",  "0.0",  "0", "NULL",              "0", "0", "0.0", "7",  "41"],
    ];
    assert_eq!(got, expected);
    // One feature row per user_daily row.
    assert_eq!(
        rows(
            &store,
            "select (select count(*) from user_features_daily), (select count(*) from user_daily)"
        ),
        vec![vec!["151", "151"]]
    );
}

#[test]
fn custom_windows_render_and_run() {
    let mut config = Config::default();
    config.features.windows = vec![10, 3];
    let (_sb, store) = build(&config, &[Stage::Prepare, Stage::Features]);
    let columns = rows(
        &store,
        "select column_name from (describe user_features_daily)
         where column_name like 'active_days_%' or column_name like 'payment_fail_rate_%' order by all",
    );
    assert_eq!(
        columns,
        vec![
            vec!["active_days_10d"],
            vec!["active_days_3d"],
            vec!["payment_fail_rate_10d"]
        ]
    );
    assert_eq!(
        rows(
            &store,
            "select active_days_3d, active_days_10d, quiz_avg_score_3d from user_features_daily
             where user_id = 'A' and as_of_date = '2026-01-08'"
        ),
        vec![vec!["2", "3", "70.0"]]
    );
    // Windows longer than 30 days: the fail rate follows the smallest.
    config.features.windows = vec![45, 60];
    run_stage(&store, &ctx(&config), Stage::Features).unwrap();
    assert_eq!(
        rows(
            &store,
            "select count(*) from (describe user_features_daily) where column_name = 'payment_fail_rate_45d'"
        ),
        vec![vec!["1"]]
    );
}

#[test]
fn features_never_look_past_the_as_of_day() {
    let sb = Sandbox::new();
    let store = sb.store();
    let config = small_config(200, 60);
    for stage in [Stage::Generate, Stage::Prepare, Stage::Features] {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    let cut = "2026-02-05";
    let before = format!("as_of_date <= '{cut}'");
    let baseline = table_rows(&store, "user_features_daily", &before);
    assert!(baseline.len() > 200 * 30);
    // Rewrite the future: drop half the users' later events, add a burst of
    // activity for the others, and move some later events around.
    exec(
        &store,
        &format!(
            "delete from events where event_time >= date '{cut}' + 1 and hash(user_id) % 2 = 0;
             insert into events
                 select 1000000 + row_number() over (), user_id, timestamp '{cut}' + interval 2 day,
                        'quiz_attempt', 'c1', null, 3, null
                 from users where hash(user_id) % 2 = 1;
             update events set watch_minutes = watch_minutes * 3 where event_time >= date '{cut}' + 1;"
        ),
    );
    for stage in [Stage::Prepare, Stage::Features] {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    assert!(
        baseline == table_rows(&store, "user_features_daily", &before),
        "a feature row at or before {cut} changed"
    );
}

#[test]
fn labels_look_exactly_window_days_ahead() {
    // X: active day 0, next on day 30 (inside the horizon); Y: day 0, next on
    // day 31 (just outside); the data ends on day 39.
    let sb = Sandbox::new();
    let store = sb.store();
    exec(
        &store,
        "insert into users values
             ('X', '2026-01-01', 'free', false, 'IN', 'ads'),
             ('Y', '2026-01-01', 'free', false, 'IN', 'ads'),
             ('Z', '2026-01-01', 'free', false, 'IN', 'ads');
         insert into events values
             (1, 'X', '2026-01-01 10:00:00', 'login', null, null, null, null),
             (2, 'X', '2026-01-31 10:00:00', 'login', null, null, null, null),
             (3, 'Y', '2026-01-01 10:00:00', 'login', null, null, null, null),
             (4, 'Y', '2026-02-01 10:00:00', 'login', null, null, null, null),
             (5, 'Z', '2026-02-09 10:00:00', 'login', null, null, null, null);",
    );
    let config = Config::default();
    for stage in [Stage::Prepare, Stage::Labels] {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    assert_eq!(
        rows(
            &store,
            "select user_id, as_of_date, future_active_days, churn_label from labels_daily
             where as_of_date <= '2026-01-02' order by all"
        ),
        vec![
            vec!["X", "2026-01-01", "1", "0"],
            vec!["X", "2026-01-02", "1", "0"],
            vec!["Y", "2026-01-01", "0", "1"],
            vec!["Y", "2026-01-02", "1", "0"],
            vec!["Z", "2026-01-01", "0", "1"],
            vec!["Z", "2026-01-02", "0", "1"],
        ]
    );
    // Only as-of days with a full 30-day horizon: day 9 (2026-01-10) is the last.
    assert_eq!(
        rows(&store, "select count(*), max(as_of_date) from labels_daily"),
        vec![vec!["30", "2026-01-10"]]
    );
}

#[test]
fn population_active_keeps_only_users_active_in_the_trailing_30_days() {
    // With the fixture: labelled as-of days are days 0..9 for A, C, D and day
    // 9 for B (signup day 9): 31 rows, 17 positive (B 1, C 7 from day 3, D 9
    // before day 9). Active in the trailing 30 days: A from day 0, C from
    // day 3 (7 rows), never B or D.
    let mut config = Config::default();
    config.labels.population = Population::All;
    let stages = [Stage::Prepare, Stage::Features, Stage::Labels, Stage::TrainingSet];
    let (_sb, store) = build(&config, &stages);
    assert_eq!(
        rows(&store, "select count(*) from training_set"),
        vec![vec!["31"]]
    );
    config.labels.population = Population::Active;
    run_stage(&store, &ctx(&config), Stage::TrainingSet).unwrap();
    assert_eq!(
        rows(
            &store,
            "select user_id, count(*), sum(churn_label) from training_set group by 1 order by 1"
        ),
        vec![vec!["A", "10", "0"], vec!["C", "7", "7"]]
    );
    // The run records the row count and the positive rate.
    assert_eq!(
        rows(
            &store,
            "select rows_out, params_json->>'population', round((params_json->>'positive_rate')::double, 4)
             from pipeline_runs where stage = 'training-set' order by started_at"
        ),
        vec![vec!["31", "all", "0.5484"], vec!["17", "active", "0.4118"]]
    );
}

#[test]
fn sql_stages_are_idempotent() {
    let sb = Sandbox::new();
    let store = sb.store();
    let config = small_config(100, 50);
    let all = [
        Stage::Generate,
        Stage::Prepare,
        Stage::Features,
        Stage::Labels,
        Stage::TrainingSet,
    ];
    for stage in all {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    let tables = ["user_features_daily", "labels_daily", "training_set"];
    let first: Vec<_> = tables.iter().map(|t| table_rows(&store, t, "true")).collect();
    for stage in &all[1..] {
        run_stage(&store, &ctx(&config), *stage).unwrap();
    }
    for (t, before) in tables.iter().zip(first) {
        assert!(before == table_rows(&store, t, "true"), "{t} changed on rerun");
    }
}
