//! validate: each check fails on a fixture that breaks exactly that check.

use churn::config::Config;
use churn::sql::SqlContext;
use churn::stages::validate::check_all;
use churn::stages::{Stage, run_stage};

use crate::common::{Sandbox, ctx, exec, rows};

/// A clean dataset: every check passes.
const CLEAN: &str = "
insert into users (user_id, signup_date, plan, is_paid, country, marketing_source) values
    ('u1', '2026-01-01', 'paid', true, 'IN', 'ads'),
    ('u2', '2026-01-02', 'free', false, 'US', 'organic');
insert into events (event_id, user_id, event_time, event_type, course_id, watch_minutes, quiz_score, amount) values
    (1, 'u1', '2026-01-01 10:00:00', 'login', null, null, null, null),
    (2, 'u1', '2026-01-01 10:05:00', 'video_watch', 'c1', 12.5, null, null),
    (3, 'u1', '2026-01-01 10:10:00', 'quiz_attempt', 'c1', null, 80, null),
    (4, 'u1', '2026-01-02 10:00:00', 'payment_success', null, null, null, 499),
    (5, 'u1', '2026-01-03 10:00:00', 'payment_failed', null, null, null, 499),
    (6, 'u2', '2026-01-02 11:00:00', 'login', null, null, null, null),
    (7, 'u2', '2026-01-02 11:05:00', 'course_enroll', 'c2', null, null, null),
    (8, 'u2', '2026-01-03 11:00:00', 'support_ticket', null, null, null, null);
";

/// The names of the failing checks after applying `breakage` to the clean data.
fn failing_after(breakage: &str) -> Vec<String> {
    let sb = Sandbox::new();
    let store = sb.store();
    exec(&store, CLEAN);
    exec(&store, breakage);
    let results = check_all(
        &store.conn,
        &SqlContext::new(&Config::default()),
        &Default::default(),
    )
    .unwrap();
    results
        .into_iter()
        .filter(|r| !r.passed())
        .map(|r| r.name)
        .collect()
}

#[test]
fn clean_data_passes_every_check() {
    assert_eq!(failing_after(""), Vec::<String>::new());
}

/// Event ids that do not rise in the table's order but are all different
/// pass: the key check then groups every id instead of one ordered pass.
#[test]
fn unique_event_ids_in_any_order_pass() {
    assert_eq!(
        failing_after("update events set event_id = 100 where event_id = 1"),
        Vec::<String>::new()
    );
    assert_eq!(
        failing_after(
            "update events set event_id = 100 where event_id = 1; insert into events select * from events where event_id = 100"
        ),
        vec!["events_primary_key_unique".to_string()]
    );
}

macro_rules! breaks_only {
    ($($test:ident: $check:literal <- $sql:literal;)*) => {
        $(
            #[test]
            fn $test() {
                assert_eq!(failing_after($sql), vec![$check.to_string()]);
            }
        )*
    };
}

breaks_only! {
    empty_events_table: "tables_not_empty" <- "delete from events";
    duplicate_user_id: "users_primary_key_unique" <- "insert into users select * from users where user_id = 'u2'";
    null_user_id: "users_primary_key_unique" <- "insert into users (user_id, signup_date, plan, is_paid, country, marketing_source) values (null, '2026-01-01', 'free', false, 'IN', 'ads')";
    missing_signup_date: "users_signup_date_present" <- "update users set signup_date = null where user_id = 'u2'; delete from events where user_id = 'u2'";
    unknown_plan: "users_plan_valid" <- "update users set plan = 'gold' where user_id = 'u1'";
    is_paid_inconsistent: "users_plan_valid" <- "update users set is_paid = true where user_id = 'u2'";
    duplicate_event_id: "events_primary_key_unique" <- "insert into events select * from events where event_id = 1";
    duplicate_event_id_in_rising_order: "events_primary_key_unique" <- "update events set event_id = 7 where event_id = 8";
    null_event_id: "events_primary_key_unique" <- "update events set event_id = null where event_id = 8";
    event_of_unknown_user: "events_user_exists" <- "insert into events (event_id, user_id, event_time, event_type, course_id, watch_minutes, quiz_score, amount) values (9, 'ghost', '2026-01-02 10:00:00', 'login', null, null, null, null)";
    event_before_signup: "events_time_after_signup" <- "update events set event_time = '2026-01-01 09:00:00' where event_id = 6";
    event_without_time: "events_time_after_signup" <- "update events set event_time = null where event_id = 6";
    unknown_event_type: "events_type_known" <- "update events set event_type = 'logout' where event_id = 6";
    negative_watch_minutes: "events_watch_minutes_non_negative" <- "update events set watch_minutes = -1 where event_id = 2";
    quiz_score_above_100: "events_quiz_score_in_range" <- "update events set quiz_score = 101 where event_id = 3";
    payment_without_amount: "events_payment_amount_positive" <- "update events set amount = 0 where event_id = 4";
    amounts_on_non_payments: "events_amount_mostly_on_payments" <- "update events set amount = 5 where event_type = 'login'";
    nan_watch_minutes: "events_values_finite" <- "update events set watch_minutes = 'nan'::double where event_id = 2";
    infinite_amount: "events_values_finite" <- "update events set amount = 'inf'::double where event_id = 4";
    event_of_an_unrecorded_load: "events_in_recorded_loads" <- "update events set load_id = 'run-x:ingest' where event_id = 2";
    ingested_event_dated_2100: "events_time_not_after_load" <- "insert into loads values ('run-x:ingest', 'run-x', 'ingest', '2026-02-01 00:00:00', '{}'); update events set load_id = 'run-x:ingest'; update events set event_time = '2100-01-01 00:00:00' where event_id = 8";
    event_dated_1900: "events_time_after_earliest_date" <- "update users set signup_date = '1899-12-31' where user_id = 'u2'; update events set event_time = '1900-01-01 00:00:00' where event_id = 8";
}

/// An ingested event may run a day past its load (a clock or time zone off
/// by some hours), not more; a generated world may lie anywhere in time.
#[test]
fn the_future_is_measured_from_the_load_that_brought_the_event() {
    let load = "insert into loads values ('run-x:ingest', 'run-x', 'ingest', '2026-02-01 00:00:00', '{}'), \
                ('run-g:generate', 'run-g', 'generate', '2026-02-01 00:00:00', '{}'); \
                update events set load_id = 'run-x:ingest'";
    let within = format!("{load}; update events set event_time = '2026-02-01 23:00:00' where event_id = 8");
    assert_eq!(failing_after(&within), Vec::<String>::new());
    let generated = "insert into loads values ('run-g:generate', 'run-g', 'generate', '2026-02-01 00:00:00', '{}'); \
                     update events set load_id = 'run-g:generate'; \
                     update events set event_time = '2100-01-01 00:00:00' where event_id = 8";
    assert_eq!(failing_after(generated), Vec::<String>::new());
}

#[test]
fn stage_stores_results_and_fails_on_errors_only() {
    let sb = Sandbox::new();
    let store = sb.store();
    exec(&store, CLEAN);
    let config = Config::default();

    // A warning alone passes.
    exec(&store, "update events set amount = 5 where event_type = 'login'");
    run_stage(&store, &ctx(&config), Stage::Validate).unwrap();
    let failed = rows(
        &store,
        "select check_name, severity, violations from validation_results where not passed",
    );
    assert_eq!(
        failed,
        vec![vec!["events_amount_mostly_on_payments", "warn", "2"]]
    );

    // An error fails the stage (exit 1) and the results are still stored,
    // with sample rows.
    exec(&store, "update events set quiz_score = 150 where event_id = 3");
    let err = run_stage(&store, &ctx(&config), Stage::Validate).unwrap_err();
    assert_eq!(err.code(), 1);
    assert!(
        err.to_string().contains("events_quiz_score_in_range (1 rows)"),
        "{err}"
    );
    let stored = rows(
        &store,
        "select check_name, violations, sample_json->>'$[0].quiz_score' from validation_results
         where not passed and severity = 'error'",
    );
    assert_eq!(stored, vec![vec!["events_quiz_score_in_range", "1", "150.0"]]);
    assert_eq!(
        rows(&store, "select count(*) from validation_results"),
        vec![vec!["16"]]
    );
    // A check that found errors is a verdict ("invalid"), not a crash.
    let runs = rows(&store, "select status from pipeline_runs order by started_at");
    assert_eq!(runs, vec![vec!["ok"], vec!["invalid"]]);
}

/// `[validate] severity.<check>` turns a check into a warning (stored,
/// shown, the run goes on) or off (not run); an unknown check is refused.
#[test]
fn severities_a_user_sets() {
    let sb = Sandbox::new();
    let small = sb.small(80, 60);
    let out = sb.churn(&["--config", &small, "run", "--stage", "generate"]);
    assert!(out.status.success(), "{}", crate::common::stderr(&out));
    {
        let store = sb.store();
        exec(
            &store,
            "update events set amount = 0 where event_id = (select min(event_id) from events where event_type = 'payment_success')",
        );
    }
    let with = |extra: &str| {
        let text = format!(
            "{}\n[validate]\n{extra}\n",
            std::fs::read_to_string(&small).unwrap()
        );
        let path = sb.write("with.toml", &text);
        sb.churn(&["--config", &path.to_string_lossy(), "run", "--stage", "validate"])
    };
    let stored = || {
        let store = sb.store();
        crate::common::rows(
            &store,
            "select severity, violations::varchar from validation_results where check_name = 'events_payment_amount_positive'",
        )
    };
    let out = with("");
    assert_eq!(out.status.code(), Some(1), "{}", crate::common::stderr(&out));
    assert_eq!(stored(), vec![vec!["error".to_string(), "1".to_string()]]);

    let out = with("severity.events_payment_amount_positive = \"warn\"");
    assert_eq!(out.status.code(), Some(0), "{}", crate::common::stderr(&out));
    assert!(crate::common::stdout(&out).contains("events_payment_amount_positive"));
    assert_eq!(stored(), vec![vec!["warn".to_string(), "1".to_string()]]);

    let out = with("severity.events_payment_amount_positive = \"off\"");
    assert_eq!(out.status.code(), Some(0), "{}", crate::common::stderr(&out));
    assert!(stored().is_empty());

    let out = with("severity.events_amount_is_nice = \"warn\"");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        crate::common::stderr(&out).contains("validate.severity.events_amount_is_nice names no check"),
        "{}",
        crate::common::stderr(&out)
    );
}
