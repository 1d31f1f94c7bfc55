//! A day's work for a day's data (#29, docs/design.md §9): after any
//! sequence of loads, the tables the daily stages keep up to date equal a
//! rebuild of the same data, row for row and bit for bit.

use std::fmt::Write as _;
use std::time::Duration;

use chrono::{Duration as Days, NaiveDate};
use churn::config::Config;
use churn::error::Error;
use churn::sql::{self, SqlContext};
use churn::stages::batches::BatchContext;
use churn::stages::ingest::{Ingest, IngestMode, Source};
use churn::stages::{Ctx, Stage, run_def, run_stage};
use churn::store::{Access, Store};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::common::{Sandbox, exec, rows, small_config};

/// The tables the daily stages maintain.
const MAINTAINED: [&str; 4] = [
    "user_daily",
    "user_features_daily",
    "labels_daily",
    "training_set",
];

/// The daily job of `k8s/cronjobs.yaml`, up to the training set.
const JOB: [Stage; 5] = [
    Stage::Validate,
    Stage::Prepare,
    Stage::Features,
    Stage::Labels,
    Stage::TrainingSet,
];

/// One load of the sequence.
#[derive(Debug, Clone, Copy)]
enum Load {
    /// Events of this many new days, for about half the users each day.
    NewDays(i64),
    /// Events on days already processed, for a few users.
    Late,
    /// New users, signed up in the last weeks, with their events.
    NewUsers,
    /// A load validate refuses (a negative watch time), with good rows too.
    Refused,
    /// An event of a user who left long enough ago that their grid had
    /// stopped (docs/design.md §9): the days between are filled.
    Comeback,
}

/// The world the loads continue: the stored users and the next ids.
struct World {
    users: Vec<String>,
    /// Users whose rows of user_daily stopped before the last day.
    gone: Vec<String>,
    next_event: i64,
    next_user: usize,
    last_day: NaiveDate,
}

impl World {
    fn read(store: &Store) -> World {
        let users = rows(store, "select user_id from users order by user_id")
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        let meta = rows(
            store,
            "select max(event_id) + 1, max(event_time)::date from events",
        );
        let gone = rows(
            store,
            "select user_id from user_daily group by user_id \
             having max(activity_date) < (select max(activity_date) from user_daily) order by 1",
        )
        .into_iter()
        .map(|r| r[0].clone())
        .collect();
        World {
            users,
            gone,
            next_event: meta[0][0].parse().unwrap(),
            next_user: 0,
            last_day: meta[0][1].parse().unwrap(),
        }
    }

    /// One event row of `user` on `day`, with decimals that do not add up
    /// exactly in doubles.
    fn event(&mut self, rng: &mut StdRng, out: &mut String, user: &str, day: NaiveDate) {
        let id = self.next_event;
        self.next_event += 1;
        let time = format!(
            "{day} {:02}:{:02}:00",
            rng.random_range(0..24),
            rng.random_range(0..60)
        );
        let row = match rng.random_range(0..6) {
            0 => format!("{id},{user},{time},login,,,,"),
            1 | 2 => format!(
                "{id},{user},{time},video_watch,c1,{:.6},,",
                rng.random_range(0.1..90.0)
            ),
            3 => format!(
                "{id},{user},{time},quiz_attempt,c1,,{:.4},",
                rng.random_range(0.0..100.0)
            ),
            4 => format!(
                "{id},{user},{time},payment_success,,,,{:.2}",
                rng.random_range(1.0..50.0)
            ),
            _ => format!("{id},{user},{time},support_ticket,,,,"),
        };
        writeln!(out, "{row}").unwrap();
    }

    /// The users and events files of `load`.
    fn files(&mut self, rng: &mut StdRng, load: Load) -> (String, String) {
        let mut users = String::from("user_id,signup_date,plan\n");
        let mut events = String::from(
            "event_id,user_id,event_time,event_type,course_id,watch_minutes,quiz_score,amount\n",
        );
        match load {
            Load::NewDays(n) => {
                for _ in 0..n {
                    self.last_day += Days::days(1);
                    let day = self.last_day;
                    for u in self.users.clone() {
                        if rng.random_bool(0.5) {
                            for _ in 0..rng.random_range(1..4) {
                                self.event(rng, &mut events, &u, day);
                            }
                        }
                    }
                }
            }
            Load::Late => {
                for _ in 0..rng.random_range(1..6) {
                    let u = self.users[rng.random_range(0..self.users.len())].clone();
                    let day = self.last_day - Days::days(rng.random_range(0..40));
                    self.event(rng, &mut events, &u, day);
                }
            }
            Load::NewUsers => {
                for _ in 0..rng.random_range(1..4) {
                    self.next_user += 1;
                    let u = format!("new{:04}", self.next_user);
                    let signup = self.last_day - Days::days(rng.random_range(0..30));
                    writeln!(users, "{u},{signup},free").unwrap();
                    let mut day = signup;
                    while day <= self.last_day {
                        if rng.random_bool(0.4) {
                            self.event(rng, &mut events, &u, day);
                        }
                        day += Days::days(1);
                    }
                    self.users.push(u);
                }
            }
            Load::Comeback => {
                let u = self.gone.pop().unwrap_or_else(|| self.users[0].clone());
                let day = self.last_day - Days::days(rng.random_range(0..3));
                self.event(rng, &mut events, &u, day);
            }
            Load::Refused => {
                let u = self.users[rng.random_range(0..self.users.len())].clone();
                self.event(rng, &mut events, &u, self.last_day);
                let id = self.next_event;
                self.next_event += 1;
                writeln!(events, "{id},{u},{} 12:00:00,video_watch,c1,-5,,", self.last_day).unwrap();
            }
        }
        (users, events)
    }
}

fn ctx<'a>(config: &'a Config, run_id: String, rebuild: bool) -> Ctx<'a> {
    Ctx {
        run_id,
        rebuild,
        ..Ctx::new(config, false)
    }
}

/// Runs the daily job; a refused load stops it, as it stops the CronJob.
/// After the first build every stage must do a day's work.
fn daily_job(store: &Store, config: &Config, run_id: String) {
    let ctx = ctx(config, run_id, false);
    for stage in JOB {
        match run_stage(store, &ctx, stage) {
            Ok(out) if stage != Stage::Validate => {
                assert_eq!(out.params["mode"], "incremental", "{stage}: {}", out.params);
            }
            Ok(_) => {}
            Err(Error::ValidationFailed(_)) if stage == Stage::Validate => return,
            Err(e) => panic!("{stage}: {e}"),
        }
    }
}

/// Rows of `table` in one file and not in the other, both ways.
fn differences(store: &Store, other: &str, table: &str) -> (i64, i64) {
    let count = |a: &str, b: &str| -> i64 {
        rows(
            store,
            &format!("select count(*) from (select * from {a} except all select * from {b})"),
        )[0][0]
            .parse()
            .unwrap()
    };
    let theirs = format!("{other}.{table}");
    (count(table, &theirs), count(&theirs, table))
}

/// Runs `loads` (each followed by the daily job unless `skip_job`) on a
/// built world, then checks every maintained table against a rebuild of
/// a copy of the file.
fn check_sequence(seed: u64, loads: &[(Load, bool)]) {
    let sb = Sandbox::new();
    let config = small_config(40, 70);
    let mut rng = StdRng::seed_from_u64(seed);
    {
        let store = sb.store();
        let c = ctx(&config, format!("run-{seed}-base"), false);
        for stage in [Stage::Generate].into_iter().chain(JOB) {
            run_stage(&store, &c, stage).unwrap();
        }
        let mut world = World::read(&store);
        // Every sequence starts from the same generated world, in which
        // some users left long enough ago that their grid stopped.
        assert!(!world.gone.is_empty(), "no user's grid stopped");
        for (k, &(load, skip_job)) in loads.iter().enumerate() {
            let (users, events) = world.files(&mut rng, load);
            let source = Source::Files {
                users: sb.write(&format!("u{k}.csv"), &users),
                events: sb.write(&format!("e{k}.csv"), &events),
                mode: IngestMode::Append,
            };
            let c = ctx(&config, format!("run-{seed}-load{k}"), false);
            run_def(&store, &c, &Ingest { source: Some(source) })
                .unwrap_or_else(|e| panic!("seed {seed}, load {k} {load:?}: {e}"));
            if !skip_job {
                daily_job(&store, &config, format!("run-{seed}-job{k}"));
            }
        }
        // The last loads reach the tables.
        daily_job(&store, &config, format!("run-{seed}-last"));
        exec(&store, "checkpoint");
    }
    let copy = sb.path("rebuilt.duckdb");
    std::fs::copy(sb.db(), &copy).unwrap();
    {
        let rebuilt = Store::open(&copy, Access::ReadWrite, Duration::from_secs(5)).unwrap();
        let c = ctx(&config, format!("run-{seed}-full"), true);
        for stage in &JOB[1..] {
            let out = run_stage(&rebuilt, &c, *stage).unwrap();
            assert_eq!(out.params["mode"], "full", "{stage}: {}", out.params);
        }
    }
    let store = sb.store();
    exec(
        &store,
        &format!("attach '{}' as rebuilt (read_only)", copy.display()),
    );
    for table in MAINTAINED {
        let n: i64 = rows(&store, &format!("select count(*) from {table}"))[0][0]
            .parse()
            .unwrap();
        assert!(n > 0, "{table} is empty");
        assert_eq!(
            differences(&store, "rebuilt", table),
            (0, 0),
            "seed {seed}, loads {loads:?}: {table} differs from a rebuild"
        );
    }
}

#[test]
fn one_day_at_a_time_equals_a_rebuild() {
    check_sequence(1, &[(Load::NewDays(1), false), (Load::NewDays(1), false)]);
}

#[test]
fn several_days_late_events_new_users_and_a_refused_load_equal_a_rebuild() {
    check_sequence(
        2,
        &[
            (Load::NewDays(3), false),
            (Load::Comeback, false),
            (Load::Late, false),
            (Load::NewUsers, false),
            (Load::Refused, false),
            (Load::NewDays(1), false),
            (Load::Late, true),
            (Load::NewUsers, true),
            (Load::NewDays(2), false),
        ],
    );
}

/// The two ways to a new day's windows (sql/features/user_features_daily.sql):
/// sliding each sum from the user's stored row of the day before, and
/// summing the window's rows, give the same rows; and most users of a new
/// day slide.
#[test]
fn a_new_day_slides_its_windows_to_the_sums_of_their_rows() {
    let sb = Sandbox::new();
    let config = small_config(40, 70);
    let store = sb.store();
    let c = ctx(&config, "run-slide-base".into(), false);
    for stage in [Stage::Generate].into_iter().chain(JOB) {
        run_stage(&store, &c, stage).unwrap();
    }
    let mut world = World::read(&store);
    let mut rng = StdRng::seed_from_u64(7);
    let (users, events) = world.files(&mut rng, Load::NewDays(1));
    let source = Source::Files {
        users: sb.write("u.csv", &users),
        events: sb.write("e.csv", &events),
        mode: IngestMode::Append,
    };
    let c = ctx(&config, "run-slide-day".into(), false);
    run_def(&store, &c, &Ingest { source: Some(source) }).unwrap();
    for stage in [Stage::Validate, Stage::Prepare] {
        run_stage(&store, &c, stage).unwrap();
    }
    let last = world.last_day;
    // The rows the features stage rebuilds after a new day: every user's from it on.
    exec(
        &store,
        &format!(
            "create or replace temp table _affected as select user_id, date '{last}' as from_date from users"
        ),
    );
    let base = SqlContext::new(&config);
    let render = |last_date: Option<NaiveDate>| {
        sql::render_with(
            "features/user_features_daily.sql",
            &BatchContext {
                base: &base,
                batched: false,
                first_date: None,
                last_date,
                incremental: true,
                from_date: Some(last),
            },
        )
        .unwrap()
    };
    let slid = render(Some(last));
    let joined = render(None);
    let count = |sql: &str| -> i64 { rows(&store, sql)[0][0].parse().unwrap() };
    let final_select = "select * from final";
    assert!(slid.trim_end().ends_with(final_select));
    let slid_users = count(&slid.replace(final_select, "select count(*) from slid"));
    let joined_slid = count(&joined.replace(final_select, "select count(*) from slid"));
    let day_rows = count(&format!(
        "select count(*) from user_daily where activity_date = date '{last}'"
    ));
    assert_eq!(joined_slid, 0, "without last_date every window is joined");
    assert!(
        slid_users * 10 >= day_rows * 8,
        "{slid_users} of the day's {day_rows} users slide"
    );
    let n = count(&format!("select count(*) from ({slid})"));
    assert_eq!(n, day_rows);
    let differ = count(&format!(
        "select (select count(*) from (({slid}) except all ({joined}))) \
         + (select count(*) from (({joined}) except all ({slid})))"
    ));
    assert_eq!(differ, 0, "the slid rows differ from the summed ones");
}

/// Random sequences of every kind of load, some followed by the job and
/// some piling up before it. CHURN_PROPERTY_SEQUENCES sets how many (4).
#[test]
fn random_sequences_of_loads_equal_a_rebuild() {
    let n: u64 = std::env::var("CHURN_PROPERTY_SEQUENCES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    for seed in 100..100 + n {
        let mut rng = StdRng::seed_from_u64(seed);
        let loads: Vec<(Load, bool)> = (0..rng.random_range(3..7))
            .map(|_| {
                let load = match rng.random_range(0..6) {
                    0 | 1 => Load::NewDays(rng.random_range(1..4)),
                    2 => Load::Late,
                    3 => Load::NewUsers,
                    4 => Load::Comeback,
                    _ => Load::Refused,
                };
                (load, rng.random_bool(0.3))
            })
            .collect();
        check_sequence(seed, &loads);
    }
}
