//! features, labels, training-set: hand-computed rows at the window edges,
//! point-in-time correctness, label horizons and populations.

use churn::config::{Config, Population};
use churn::stages::{Ctx, Stage, run_stage};
use churn::store::Store;

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
insert into users (user_id, signup_date, plan, is_paid, country, marketing_source) values
    ('A', '2026-01-01', 'paid', true, 'IN', 'ads'),
    ('B', '2026-01-10', 'free', false, 'US', 'organic'),
    ('C', '2025-12-01', 'free', false, 'UK', 'referral'),
    ('D', '2026-01-01', 'free', false, 'SG', 'youtube');
insert into events (event_id, user_id, event_time, event_type, course_id, watch_minutes, quiz_score, amount) values
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

/// The user's whole history up to the as-of day, hand-computed: A's active
/// days are 0, 5, 6, 20, 31, 32, 36; B is never active; C signed up before
/// the data, whose first day starts C's observed history.
#[test]
fn history_features_match_hand_computed_values() {
    let config = Config::default();
    let (_sb, store) = build(&config, &[Stage::Prepare, Stage::Features]);
    let got = rows(
        &store,
        "select user_id, as_of_date, lifetime_active_days, lifetime_events, observed_days,
                lifetime_activity_rate, mean_active_gap, silence_ratio, payment_amount_7d, payment_amount_30d
         from user_features_daily
         where (user_id = 'A' and as_of_date in ('2026-01-07', '2026-01-15', '2026-02-01', '2026-02-02'))
            or (user_id = 'B' and as_of_date in ('2026-01-10', '2026-01-21'))
            or (user_id = 'C' and as_of_date in ('2026-01-01', '2026-01-04', '2026-01-11'))
         order by user_id, as_of_date",
    );
    #[rustfmt::skip]
    let expected: Vec<Vec<&str>> = vec![
        //            date          active events observed rate (active/observed)  gap (span/(n-1)) silence (dsla/gap)   pay7   pay30
        // day 6: days 0, 5, 6 -> span 6 over 2 gaps; active today
        vec!["A", "2026-01-07", "3", "8",  "7",  "0.42857142857142855", "3.0",  "0.0",                "499.0", "499.0"],
        // day 14: 8 days of silence = 8 / 3 gaps
        vec!["A", "2026-01-15", "3", "8",  "15", "0.2",                 "3.0",  "2.6666666666666665", "0.0",   "499.0"],
        // day 31: 5 active days over 31 days of span; the payment of day 0 left the 30 days
        vec!["A", "2026-02-01", "5", "12", "32", "0.15625",             "7.75", "0.0",                "0.0",   "0.0"],
        vec!["A", "2026-02-02", "6", "13", "33", "0.18181818181818182", "6.4",  "0.0",                "499.0", "499.0"],
        // never active: no gap to measure
        vec!["B", "2026-01-10", "0", "0",  "1",  "0.0",                 "NULL", "NULL",               "0.0",   "0.0"],
        vec!["B", "2026-01-21", "0", "0",  "12", "0.0",                 "NULL", "NULL",               "0.0",   "0.0"],
        // signed up before the data: observed from its first day
        vec!["C", "2026-01-01", "0", "0",  "1",  "0.0",                 "NULL", "NULL",               "0.0",   "0.0"],
        vec!["C", "2026-01-04", "1", "1",  "4",  "0.25",                "NULL", "NULL",               "0.0",   "0.0"],
        vec!["C", "2026-01-11", "1", "1",  "11", "0.09090909090909091", "NULL", "NULL",               "0.0",   "0.0"],
    ];
    assert_eq!(got, expected);
}

/// The last 21 days one by one, hand-computed: bit i set when the user was
/// active i days before the as-of day. A is active on days 0, 5, 6, 20, 31,
/// 32, 36; C (signed up before the data) on day 3; B never.
#[test]
fn day_bits_match_hand_computed_values() {
    let config = Config::default();
    let (_sb, store) = build(&config, &[Stage::Prepare, Stage::Features]);
    let got = rows(
        &store,
        "select user_id, as_of_date, active_day_bits
         from user_features_daily
         where (user_id = 'A' and as_of_date in ('2026-01-07', '2026-01-21', '2026-01-22', '2026-02-06'))
            or (user_id = 'B' and as_of_date = '2026-01-21')
            or (user_id = 'C' and as_of_date in ('2026-01-04', '2026-01-24', '2026-01-25'))
         order by user_id, as_of_date",
    );
    let bits = |days: &[u32]| days.iter().map(|d| 1u32 << d).sum::<u32>().to_string();
    let expected: Vec<Vec<String>> = [
        // day 6: days 6, 5, 0 are 0, 1, 6 days back
        ("A", "2026-01-07", bits(&[0, 1, 6])),
        // day 20: 20, 6, 5, 0 -> 0, 14, 15, 20 back (day 0 the oldest kept)
        ("A", "2026-01-21", bits(&[0, 14, 15, 20])),
        // day 21: day 0 is 21 days back, out of the bits
        ("A", "2026-01-22", bits(&[1, 15, 16])),
        // day 36: 36, 32, 31, 20
        ("A", "2026-02-06", bits(&[0, 4, 5, 16])),
        ("B", "2026-01-21", bits(&[])),
        ("C", "2026-01-04", bits(&[0])),
        ("C", "2026-01-24", bits(&[20])),
        ("C", "2026-01-25", bits(&[])),
    ]
    .into_iter()
    .map(|(u, d, b)| vec![u.to_string(), d.to_string(), b])
    .collect();
    assert_eq!(got, expected);
}

/// `churn run --full`.
fn full(config: &Config) -> Ctx<'_> {
    Ctx {
        rebuild: true,
        ..ctx(config)
    }
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
    // Other windows are another definition: a day's work refuses to mix
    // them into the table, and --full rebuilds it (docs/design.md §9).
    config.features.windows = vec![45, 60];
    let refused = run_stage(&store, &ctx(&config), Stage::Features).unwrap_err();
    assert!(
        matches!(refused, churn::error::Error::Usage(_)) && refused.to_string().contains("--full"),
        "{refused}"
    );
    run_stage(&store, &full(&config), Stage::Features).unwrap();
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
             insert into events (event_id, user_id, event_time, event_type, course_id, watch_minutes, quiz_score, amount)
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

/// A config with a 10-day horizon and 10 inactive days: churn_label = 1
/// when the user has no active day in (d + 10, d + 20].
fn short_label_config() -> Config {
    let mut config = Config::default();
    config.labels.horizon_days = 10;
    config.labels.inactive_days = 10;
    config
}

#[test]
fn labels_look_past_the_horizon_for_a_month_away() {
    // The data runs from day 0 to day 39. X is active on days 0 and 20, Y on
    // 0 and 21, W on day 15, Z on day 39 (the last observed day).
    let sb = Sandbox::new();
    let store = sb.store();
    exec(
        &store,
        "insert into users (user_id, signup_date, plan, is_paid, country, marketing_source) values
             ('W', '2026-01-01', 'free', false, 'IN', 'ads'),
             ('X', '2026-01-01', 'free', false, 'IN', 'ads'),
             ('Y', '2026-01-01', 'free', false, 'IN', 'ads'),
             ('Z', '2026-01-01', 'free', false, 'IN', 'ads');
         insert into events (event_id, user_id, event_time, event_type, course_id, watch_minutes, quiz_score, amount) values
             (1, 'X', '2026-01-01 10:00:00', 'login', null, null, null, null),
             (2, 'X', '2026-01-21 10:00:00', 'login', null, null, null, null),
             (3, 'Y', '2026-01-01 10:00:00', 'login', null, null, null, null),
             (4, 'Y', '2026-01-22 10:00:00', 'login', null, null, null, null),
             (5, 'W', '2026-01-16 10:00:00', 'login', null, null, null, null),
             (6, 'Z', '2026-02-09 10:00:00', 'login', null, null, null, null);",
    );
    let config = short_label_config();
    for stage in [Stage::Prepare, Stage::Labels] {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    // Day k = 2026-01-01 + k. Look-ahead of d: (d + 10, d + 20].
    #[rustfmt::skip]
    let expected = vec![
        // W: day 15 lies in (d + 10, d + 20] for d in 0..=4; from d = 5 it is
        // inside the horizon or before d, so the user has left.
        vec!["W", "2026-01-05", "1", "0"],
        vec!["W", "2026-01-06", "0", "1"],
        // X: day 20 = d + 20 counts for d = 0 (the last day of the look-ahead)
        // and day 20 = d + 10 does not for d = 10 (the last day of the horizon).
        vec!["X", "2026-01-01", "1", "0"],
        vec!["X", "2026-01-10", "1", "0"],
        vec!["X", "2026-01-11", "0", "1"],
        // Y: day 21 = d + 21 lies past the look-ahead of d = 0.
        vec!["Y", "2026-01-01", "0", "1"],
        vec!["Y", "2026-01-02", "1", "0"],
        vec!["Y", "2026-01-11", "1", "0"],
        vec!["Y", "2026-01-12", "0", "1"],
        // Z: day 39 = d + 20 for d = 19, the last labelled day.
        vec!["Z", "2026-01-19", "0", "1"],
        vec!["Z", "2026-01-20", "1", "0"],
    ];
    assert_eq!(
        rows(
            &store,
            "select user_id, as_of_date, future_active_days, churn_label from labels_daily
             where (user_id, as_of_date) in (
                 ('W', '2026-01-05'), ('W', '2026-01-06'), ('X', '2026-01-01'), ('X', '2026-01-10'),
                 ('X', '2026-01-11'), ('Y', '2026-01-01'), ('Y', '2026-01-02'), ('Y', '2026-01-11'),
                 ('Y', '2026-01-12'), ('Z', '2026-01-19'), ('Z', '2026-01-20'))
             order by all"
        ),
        expected
    );
    // Only as-of days whose whole look-ahead is observed: d + 20 <= 39, so
    // days 0..=19 of each user, and the counts by hand.
    assert_eq!(
        rows(
            &store,
            "select count(*), max(as_of_date), sum(churn_label) filter (where user_id = 'W'),
                    sum(churn_label) filter (where user_id = 'X'), sum(churn_label) filter (where user_id = 'Y'),
                    sum(churn_label) filter (where user_id = 'Z')
             from labels_daily"
        ),
        vec![vec!["80", "2026-01-20", "15", "10", "10", "19"]]
    );
}

#[test]
fn training_set_keeps_the_recently_active_population_after_the_warm_up() {
    // The fixture with windows 7 and 14 (warm-up: as-of days before day 13),
    // a 5-day horizon and 5 inactive days (labels for d <= 29, look-ahead
    // (d + 5, d + 10]) and a 7-day recency.
    //   A, active on days 0, 5, 6, 20, 31, 32, 36: label 0 for d in 13..=14
    //     (day 20 ahead) and 21..=29 (days 31, 32, 36 ahead), 1 for 15..=20.
    //   B (signs up day 9), never active: 17 rows of 1. C, active day 3 only:
    //   17 rows of 1. D, active day 39 only: 1 for d in 13..=28, 0 for 29.
    // All: 4 users x days 13..=29 = 68 rows, 6 + 17 + 17 + 16 = 56 positive.
    // Active in the 7 days ending on d: only A, on days 20..=26 (day 20):
    // 7 rows, 1 positive (d = 20).
    let mut config = Config::default();
    config.features.windows = vec![7, 14];
    config.labels.horizon_days = 5;
    config.labels.inactive_days = 5;
    config.labels.recent_days = 7;
    config.labels.population = Population::All;
    let stages = [Stage::Prepare, Stage::Features, Stage::Labels, Stage::TrainingSet];
    let (_sb, store) = build(&config, &stages);
    assert_eq!(
        rows(
            &store,
            "select count(*), sum(churn_label), min(as_of_date), max(as_of_date) from training_set"
        ),
        vec![vec!["68", "56", "2026-01-14", "2026-01-30"]]
    );
    config.labels.population = Population::Active;
    run_stage(&store, &full(&config), Stage::TrainingSet).unwrap();
    assert_eq!(
        rows(
            &store,
            "select user_id, count(*), sum(churn_label), min(as_of_date), max(as_of_date)
             from training_set group by 1 order by 1"
        ),
        vec![vec!["A", "7", "1", "2026-01-21", "2026-01-27"]]
    );
    // recently_active marks exactly the days 0..=6 after an active day.
    assert_eq!(
        rows(
            &store,
            "select string_agg(as_of_date::varchar, ',' order by as_of_date) from user_features_daily
             where user_id = 'A' and recently_active and as_of_date between '2026-01-01' and '2026-01-31'"
        ),
        vec![vec![
            "2026-01-01,2026-01-02,2026-01-03,2026-01-04,2026-01-05,2026-01-06,2026-01-07,2026-01-08,\
             2026-01-09,2026-01-10,2026-01-11,2026-01-12,2026-01-13,2026-01-21,2026-01-22,2026-01-23,\
             2026-01-24,2026-01-25,2026-01-26,2026-01-27"
        ]]
    );
    // The run records the row count and the positive rate.
    assert_eq!(
        rows(
            &store,
            "select rows_out, params_json->>'population', round((params_json->>'positive_rate')::double, 4)
             from pipeline_runs where stage = 'training-set' order by started_at"
        ),
        vec![vec!["68", "all", "0.8235"], vec!["7", "active", "0.1429"]]
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

/// features, labels and training-set built a few users at a time (batches
/// of 1,500 input rows: several ranges of user ids) hold the same rows as
/// from one statement, and the last ones keep their dataset-wide dates
/// (labels' last observed day, training's warm-up from the first day).
#[test]
fn batches_of_users_build_the_same_tables_as_one_statement() {
    use churn::stages::{features, labels, training_set};
    let sb = Sandbox::new();
    let store = sb.store();
    let config = small_config(60, 90);
    for stage in [Stage::Generate, Stage::Prepare] {
        run_stage(&store, &ctx(&config), stage).unwrap();
    }
    let sql_ctx = churn::sql::SqlContext::new(&config);
    let sorted = |table: &str| {
        rows(
            &store,
            &format!("select * from {table} order by user_id, as_of_date"),
        )
    };
    type Build =
        fn(&duckdb::Connection, &churn::sql::SqlContext, i64) -> churn::error::Result<churn::stages::Outcome>;
    let builds: [(&str, Build); 3] = [
        ("user_features_daily", features::run_in_batches),
        ("labels_daily", labels::run_in_batches),
        ("training_set", training_set::run_in_batches),
    ];
    for (table, build) in builds {
        let whole = build(&store.conn, &sql_ctx, i64::MAX).unwrap();
        assert_eq!(whole.params["batches"], 1, "{table}");
        let expected = sorted(table);
        assert!(expected.len() > 1_500, "{table}: {} rows", expected.len());
        let batched = build(&store.conn, &sql_ctx, 1_500).unwrap();
        let n = batched.params["batches"].as_u64().unwrap();
        assert!(n >= 2, "{table}: {n} batches");
        assert_eq!(batched.rows_out, whole.rows_out, "{table}");
        assert_eq!(sorted(table), expected, "{table} in {n} batches");
    }
}
