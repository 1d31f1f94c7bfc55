//! generate: determinism and the generative story's invariants.

use churn::stages::generate::Generate;
use churn::stages::{Stage, run_def, run_stage};

use crate::common::{Sandbox, ctx, rows, small_config};

fn generate(users: u32, days: u32, seed: u64) -> (Sandbox, churn::store::Store) {
    let sb = Sandbox::new();
    let store = sb.store();
    let mut config = small_config(users, days);
    config.generate.seed = seed;
    run_stage(&store, &ctx(&config), Stage::Generate).unwrap();
    (sb, store)
}

const DUMP: [&str; 3] = [
    "select * from users order by user_id",
    "select * from events order by event_id",
    "select * from synthetic_truth order by user_id",
];

#[test]
fn same_config_gives_identical_tables() {
    let (_a, a) = generate(600, 45, 7);
    let (_b, b) = generate(600, 45, 7);
    for q in DUMP {
        let (ra, rb) = (rows(&a, q), rows(&b, q));
        assert!(!ra.is_empty(), "{q} is empty");
        assert!(ra == rb, "{q} differs between two runs of the same config");
    }
    let (_c, c) = generate(600, 45, 8);
    assert_ne!(
        rows(&a, DUMP[1]),
        rows(&c, DUMP[1]),
        "another seed gives other events"
    );
}

#[test]
fn rerun_replaces_the_tables() {
    let sb = Sandbox::new();
    let store = sb.store();
    let config = small_config(50, 20);
    run_stage(&store, &ctx(&config), Stage::Generate).unwrap();
    let first: Vec<_> = DUMP.iter().map(|q| rows(&store, q)).collect();
    run_stage(&store, &ctx(&config), Stage::Generate).unwrap();
    let second: Vec<_> = DUMP.iter().map(|q| rows(&store, q)).collect();
    assert_eq!(first, second);
    assert_eq!(
        rows(
            &store,
            "select count(*) = (select sum(users_added) from simulation), count(*) >= 50,
                    (select count(*) from simulation) from users"
        ),
        vec![vec!["true", "true", "1"]]
    );
}

#[test]
fn the_story_holds() {
    let (_sb, store) = generate(1500, 90, 42);
    let one = |q: &str| rows(&store, q)[0][0].clone();
    // Nobody is active on or after their churn day, which follows the signup.
    assert_eq!(
        one(
            "select count(*) from events e join synthetic_truth t using (user_id)
             where t.churn_date is not null and e.event_time >= t.churn_date"
        ),
        "0"
    );
    assert_eq!(
        one(
            "select count(*) from users u join synthetic_truth t using (user_id)
             where t.churn_date is null or t.churn_date <= u.signup_date"
        ),
        "0"
    );
    // 1500 users are present on the start date; the others sign up later.
    assert_eq!(
        one(
            "select count(*) from users u join synthetic_truth t using (user_id)
             where u.signup_date <= date '2026-01-01' and t.churn_date > date '2026-01-01'"
        ),
        "1500"
    );
    assert_eq!(
        one("select count(*) from users where signup_date > date '2026-01-01' + 89"),
        "0"
    );
    // Payments: paid users only, on their billing day (the day of the month
    // they signed up, or the month's last day when it is shorter), at most
    // one a month, amounts in range.
    assert_eq!(
        one("select count(*) from events e join users u using (user_id)
             where e.event_type like 'payment_%'
               and (not u.is_paid or e.amount < 199 or e.amount > 999
                    or day(e.event_time) <> least(day(u.signup_date), day(last_day(e.event_time))))"),
        "0"
    );
    assert_eq!(
        one(
            "select count(*) from (select user_id, month(event_time) from events
             where event_type like 'payment_%' group by all having count(*) > 1)"
        ),
        "0"
    );
    // Value ranges.
    assert_eq!(
        one(
            "select count(*) from events where watch_minutes < 2 or watch_minutes > 180
             or quiz_score < 0 or quiz_score > 100"
        ),
        "0"
    );
    // Arrivals are paid at the configured 35%; among those present on the
    // start date paid plans are over-represented (they stay longer).
    let (arrived_paid, present_paid): (f64, f64) = {
        let r = rows(
            &store,
            "select avg(is_paid::int) filter (where signup_date > date '2026-01-01'),
                    avg(is_paid::int) filter (where signup_date <= date '2026-01-01')
             from users",
        );
        (r[0][0].parse().unwrap(), r[0][1].parse().unwrap())
    };
    assert!(
        (arrived_paid - 0.35).abs() < 0.1,
        "paid share of arrivals {arrived_paid}"
    );
    assert!(
        present_paid > 0.35,
        "paid share of the start population {present_paid}"
    );
    // The hazard is k · plan factor · (0.4 + 1.4 (1 - e)^1.6) with one k for
    // everybody, and the 30-day churn probability is 1 - (1 - h)^30.
    assert_eq!(
        one("with k as (
                 select t.daily_hazard / ((case when u.is_paid then 0.75 else 1 end)
                        * (0.4 + 1.4 * pow(1 - t.engagement, 1.6))) as k
                 from synthetic_truth t join users u using (user_id)
             )
             select max(k) - min(k) < 1e-12 * max(k) from k"),
        "true"
    );
    assert_eq!(
        one("select count(*) from synthetic_truth
             where abs(churn_probability - (1 - pow(1 - daily_hazard, 30))) > 1e-12"),
        "0"
    );
    // Engaged users are active more often: the active-day rate of users
    // present over the whole window tracks 0.15 + 0.8 e.
    let slope: f64 = one("with days as (
             select user_id, count(distinct event_time::date) filter (where event_type = 'login') as active
             from events group by user_id
         )
         select regr_slope(coalesce(d.active, 0) / 90.0, t.engagement)
         from synthetic_truth t join users u using (user_id) left join days d using (user_id)
         where t.churn_date > date '2026-01-01' + 90 + 21 and u.signup_date <= date '2026-01-01'")
    .parse()
    .unwrap();
    assert!((slope - 0.8).abs() < 0.1, "activity slope on engagement {slope}");
}

#[test]
fn churners_fade_before_they_leave() {
    let (_sb, store) = generate(3000, 120, 3);
    // Login-day rate in the 7 days before churn vs. 22-28 days before, among
    // churners with a full history: decay (21 days) makes the former lower.
    let got = rows(
        &store,
        "with churners as (
                 select user_id, churn_date from synthetic_truth
             where churn_date between date '2026-01-01' + 40 and date '2026-01-01' + 119
         ),
         logins as (
             select distinct user_id, event_time::date as d from events where event_type = 'login'
         )
         select
             count(*) filter (where l.d >= c.churn_date - 7) / (7.0 * (select count(*) from churners)),
             count(*) filter (where l.d < c.churn_date - 21 and l.d >= c.churn_date - 28) / (7.0 * (select count(*) from churners))
         from churners c join logins l using (user_id)",
    );
    let late: f64 = got[0][0].parse().unwrap();
    let early: f64 = got[0][1].parse().unwrap();
    assert!(late < 0.6 * early, "last week {late} vs a month before {early}");
}

#[test]
fn appending_days_continues_the_same_simulation() {
    // 60 days then 10 + 20 appended days == 60 days then 30 appended days.
    let config = small_config(300, 60);
    let a = Sandbox::new();
    let sa = a.store();
    run_stage(&sa, &ctx(&config), Stage::Generate).unwrap();
    let before = rows(&sa, DUMP[1]);
    for days in [10, 20] {
        let append = Generate {
            append_days: Some(days),
        };
        run_def(&sa, &ctx(&config), &append).unwrap();
    }
    let b = Sandbox::new();
    let sb = b.store();
    run_stage(&sb, &ctx(&config), Stage::Generate).unwrap();
    let append = Generate {
        append_days: Some(30),
    };
    run_def(&sb, &ctx(&config), &append).unwrap();

    let no_ids = "select * exclude (event_id) from events order by user_id, event_time, event_type";
    assert_eq!(rows(&sa, no_ids), rows(&sb, no_ids));
    assert_eq!(rows(&sa, DUMP[0]), rows(&sb, DUMP[0]));
    assert_eq!(rows(&sa, DUMP[2]), rows(&sb, DUMP[2]));
    // The first 60 days are untouched, ids continue, days 60..89 are filled.
    let first: Vec<_> = rows(&sa, DUMP[1]).into_iter().take(before.len()).collect();
    assert_eq!(first, before);
    let one = |s: &churn::store::Store, q: &str| rows(s, q)[0][0].clone();
    assert_eq!(
        one(
            &sa,
            "select count(*) = max(event_id) and count(distinct event_id) = count(*) from events"
        ),
        "true"
    );
    assert_eq!(one(&sa, "select max(event_time)::date from events"), "2026-03-31");
    // Every event carries its load's id (the column's default while the
    // generator appends), and the column keeps no default afterwards.
    assert_eq!(
        one(
            &sa,
            "select count(*) filter (where load_id is null or load_id not like '%:generate') from events"
        ),
        "0"
    );
    assert_eq!(
        one(
            &sa,
            "select count(*) from duckdb_columns() where table_name = 'events' and column_default is not null"
        ),
        "0"
    );
    assert_eq!(
        one(
            &sa,
            "select string_agg(first_day || '-' || last_day, ',' order by first_day) from simulation"
        ),
        "0-60,60-70,70-90"
    );
    // New users keep arriving at the calibrated rate during the appended
    // days, and act only after their signup.
    let new: f64 = one(
        &sa,
        "select count(*) from users where signup_date >= date '2026-03-02'",
    )
    .parse()
    .unwrap();
    let expected = 30.0 * churn::simulation::World::new(&config.generate).arrival_rate;
    assert!(
        (new - expected).abs() < 0.5 * expected,
        "{new} new users in 30 days, {expected} expected"
    );
    assert_eq!(
        one(
            &sa,
            "select count(*) from events e join users u using (user_id) where e.event_time < u.signup_date"
        ),
        "0"
    );
}

#[test]
fn the_drift_scenario_changes_behaviour_from_its_start_day() {
    let mut config = small_config(800, 40);
    config.generate.drift.start_day = 20;
    config.generate.drift.activity_multiplier = 0.5;
    config.generate.drift.watch_minutes_multiplier = 2.0;
    let sb = Sandbox::new();
    let store = sb.store();
    run_stage(&store, &ctx(&config), Stage::Generate).unwrap();
    let got = rows(
        &store,
        "select (event_time::date >= date '2026-01-21') as drifted,
                count(distinct (user_id, event_time::date)) filter (where event_type = 'login') / 20.0,
                avg(watch_minutes)
         from events where event_time::date >= date '2026-01-01' group by all order by drifted",
    );
    let (active_before, active_after): (f64, f64) = (got[0][1].parse().unwrap(), got[1][1].parse().unwrap());
    let (watch_before, watch_after): (f64, f64) = (got[0][2].parse().unwrap(), got[1][2].parse().unwrap());
    // Active user-days halve (churners leaving lowers them a little more);
    // minutes double, less the clip at 180.
    assert!(
        active_after < 0.6 * active_before && active_after > 0.35 * active_before,
        "{active_before} -> {active_after}"
    );
    assert!(
        watch_after > 1.6 * watch_before && watch_after < 2.1 * watch_before,
        "{watch_before} -> {watch_after}"
    );
}
