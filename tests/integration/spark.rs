//! The same SQL on Spark: every stage rendered by `churn sql --dialect
//! spark` runs unchanged in pyspark's `spark-sql` (local[2]) over a Parquet
//! lake written by `churn export`, and builds the tables DuckDB builds: the
//! same keys, values within 1e-9. The model is then fitted from Spark's
//! training_set (`churn run --stage train --training-set`), scored on Spark
//! from its exported terms, and those risks are held to the Rust scores.
//!
//! Needs Java 17 and pyspark (`bash scripts/spark-env.sh` installs both and
//! prints spark-sql's path), so it is ignored by a plain `cargo test`; CI
//! runs it: `CHURN_SPARK_SQL=$(bash scripts/spark-env.sh) cargo test --test
//! integration spark:: -- --ignored`.

use std::path::Path;
use std::process::Command;

use duckdb::Connection;

use crate::common::{Sandbox, exported, stderr, stdout};

/// Values may differ by this much (sums taken in another order).
const TOLERANCE: f64 = 1e-9;

fn spark_sql() -> String {
    std::env::var("CHURN_SPARK_SQL").unwrap_or_else(|_| {
        panic!(
            "CHURN_SPARK_SQL is not set: run `export CHURN_SPARK_SQL=$(bash scripts/spark-env.sh)` (Java 17 and \
             pyspark), then this test"
        )
    })
}

/// Runs a SQL file in spark-sql, local[2], as a SparkApplication would.
fn run_spark(sb: &Sandbox, file: &Path) {
    let out = Command::new(spark_sql())
        .args([
            "--master",
            "local[2]",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.session.timeZone=UTC",
            "--conf",
            "spark.sql.shuffle.partitions=4",
            "-f",
        ])
        .arg(file)
        .current_dir(sb.dir.path())
        .output()
        .expect("run spark-sql");
    assert!(
        out.status.success(),
        "spark-sql -f {} failed:\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `churn ARGS` must succeed (or end with a monitoring verdict, exit 2).
fn churn_ok(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.churn(args);
    let code = out.status.code();
    assert!(
        code == Some(0) || (code == Some(2) && args.contains(&"drift")),
        "churn {args:?} exited {code:?}:\n{}",
        stderr(&out)
    );
    stdout(&out)
}

/// The Spark SQL of `stages`, one file.
fn render(sb: &Sandbox, config: &str, lake: &str, stages: &[&str], file: &str) -> std::path::PathBuf {
    let mut text = String::new();
    for stage in stages {
        let mut args = vec![
            "--config",
            config,
            "sql",
            "--dialect",
            "spark",
            "--lake",
            lake,
            *stage,
        ];
        if *stage == "drift" {
            args.extend(["--run-id", "spark"]);
        }
        text.push_str(&churn_ok(sb, &args));
        text.push('\n');
    }
    sb.write(file, &text)
}

struct Compared {
    table: String,
    rows: i64,
    columns: usize,
    max_diff: f64,
}

const NUMERIC: &[&str] = &[
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE",
];

/// Compares DuckDB's `duck` (a query over the attached file `d`) with the
/// Parquet folder Spark wrote, on `keys`: the same key set, the same
/// columns (but `ignore`), numbers within TOLERANCE, anything else equal.
fn compare(
    conn: &Connection,
    table: &str,
    duck: &str,
    folder: &Path,
    keys: &[&str],
    ignore: &[&str],
) -> Compared {
    let spark = format!("read_parquet('{}/*.parquet')", folder.display());
    let describe = |relation: &str| -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare(&format!(
                "select column_name, column_type from (describe select * from {relation})"
            ))
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .filter(|(c, _): &(String, String)| !ignore.contains(&c.as_str()))
            .collect()
    };
    let duck_columns = describe(&format!("({duck}) as d"));
    let spark_columns = describe(&spark);
    let names = |cols: &[(String, String)]| cols.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&spark_columns),
        names(&duck_columns),
        "{table}: Spark's columns differ from DuckDB's"
    );
    let on = keys
        .iter()
        .map(|k| format!("s.{k} = d.{k}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let joined = format!("({duck}) as d full outer join {spark} as s on {on}");
    let (duck_rows, spark_rows, unmatched): (i64, i64, i64) = conn
        .query_row(
            &format!(
                "select (select count(*) from ({duck})), (select count(*) from {spark}), \
                 (select count(*) from {joined} where s.{k} is null or d.{k} is null)",
                k = keys[0]
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(duck_rows > 0, "{table}: DuckDB has no rows to compare");
    assert_eq!(
        (spark_rows, unmatched),
        (duck_rows, 0),
        "{table}: Spark has {spark_rows} rows, DuckDB {duck_rows}; {unmatched} keys in one only"
    );
    let mut max_diff = 0.0f64;
    for (column, ty) in &duck_columns {
        if keys.contains(&column.as_str()) {
            continue;
        }
        let (spark_ty, _) = (&spark_columns.iter().find(|(c, _)| c == column).unwrap().1, ());
        let numeric = NUMERIC.contains(&ty.as_str()) || ty.starts_with("DECIMAL");
        let spark_numeric = NUMERIC.contains(&spark_ty.as_str()) || spark_ty.starts_with("DECIMAL");
        if numeric && spark_numeric {
            let (diff, nulls): (Option<f64>, i64) = conn
                .query_row(
                    &format!(
                        "select max(case when d.{column}::double = s.{column}::double then 0 \
                         else abs(d.{column}::double - s.{column}::double) end), \
                         count(*) filter (where (d.{column} is null) <> (s.{column} is null)) from {joined}"
                    ),
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!(
                nulls, 0,
                "{table}.{column}: NULL in one engine only in {nulls} rows"
            );
            let diff = diff.unwrap_or(0.0);
            assert!(
                diff <= TOLERANCE,
                "{table}.{column}: Spark differs from DuckDB by up to {diff:e}"
            );
            max_diff = max_diff.max(diff);
        } else {
            let differing: i64 = conn
                .query_row(
                    &format!("select count(*) from {joined} where d.{column}::varchar is distinct from s.{column}::varchar"),
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(
                differing, 0,
                "{table}.{column} ({ty} vs {spark_ty}): {differing} rows differ"
            );
        }
    }
    Compared {
        table: table.to_string(),
        rows: duck_rows,
        columns: duck_columns.len(),
        max_diff,
    }
}

/// Writes users, events and loads to `lake` as the sandbox file holds them,
/// plus rows each breaking a check: a negative watch time, a NaN amount, an
/// infinite quiz score, an unknown type, a repeated event id, an unknown
/// user, a payment without an amount, an event before its user's signup.
fn plant_bad_rows(sb: &Sandbox, lake: &Path) {
    let conn = attached(sb);
    for table in ["users", "events", "loads"] {
        std::fs::create_dir_all(lake.join(table)).unwrap();
    }
    let out = |table: &str| format!("{}/{table}/data.parquet", lake.display());
    conn.execute_batch(&format!(
        "copy (from d.users) to '{users}' (format parquet);
         copy (from d.loads) to '{loads}' (format parquet);
         copy (
             with planted_user as (select min(user_id) as user_id, max(signup_date) as late from d.users),
             top as (select max(event_id) as id from d.events)
             from d.events
             union all by name
             select top.id + 1 as event_id, planted_user.user_id, timestamp '2026-03-01 10:00:00' as event_time,
                    'video_watch' as event_type, -5.0 as watch_minutes from planted_user, top
             union all by name
             select top.id + 2 as event_id, planted_user.user_id as user_id, timestamp '2026-03-01 11:00:00' as event_time, 'payment_success' as event_type,
                    'nan'::double as amount from planted_user, top
             union all by name
             select top.id + 3 as event_id, planted_user.user_id as user_id, timestamp '2026-03-01 12:00:00' as event_time, 'quiz_attempt' as event_type,
                    'inf'::double as quiz_score from planted_user, top
             union all by name
             select top.id + 4 as event_id, planted_user.user_id as user_id, timestamp '2026-03-01 13:00:00' as event_time, 'teleport' as event_type from planted_user, top
             union all by name
             select top.id + 4 as event_id, planted_user.user_id as user_id, timestamp '2026-03-01 14:00:00' as event_time, 'login' as event_type from planted_user, top
             union all by name
             select top.id + 5 as event_id, 'ghost' as user_id, timestamp '2026-03-01 15:00:00' as event_time, 'login' as event_type from planted_user, top
             union all by name
             select top.id + 6 as event_id, planted_user.user_id as user_id, timestamp '2026-03-01 16:00:00' as event_time, 'payment_failed' as event_type from planted_user, top
             union all by name
             select top.id + 7 as event_id, planted_user.user_id as user_id, timestamp '2025-01-01 00:00:00' as event_time, 'login' as event_type from planted_user, top
         ) to '{events}' (format parquet);",
        users = out("users"),
        loads = out("loads"),
        events = out("events"),
    ))
    .unwrap();
}

/// DuckDB's checks (`validate::check_all`) of the tables in `lake`, by
/// check name: a fresh file loaded from the folders.
fn duckdb_checks_of(sb: &Sandbox, lake: &Path) -> Vec<(String, i64)> {
    let path = sb.path("bad.duckdb");
    let store = churn::store::Store::open(
        &path,
        churn::store::Access::ReadWrite,
        std::time::Duration::from_secs(5),
    )
    .unwrap();
    for table in ["users", "events", "loads"] {
        store
            .conn
            .execute_batch(&format!(
                "delete from {table}; insert into {table} by name select * from read_parquet('{}/{table}/*.parquet')",
                lake.display()
            ))
            .unwrap();
    }
    let ctx = churn::sql::SqlContext::new(&churn::config::Config::default());
    let mut checks: Vec<(String, i64)> =
        churn::stages::validate::check_all(&store.conn, &ctx, &Default::default())
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.violations))
            .collect();
    checks.sort();
    checks
}

/// A connection to the sandbox's file, read only (drop it before the next
/// `churn` command: DuckDB allows no writer beside it).
fn attached(sb: &Sandbox) -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!("attach '{}' as d (read_only)", sb.db().display()))
        .unwrap();
    conn
}

fn one(conn: &Connection, sql: &str) -> String {
    conn.query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[test]
#[ignore = "needs Java 17 and pyspark: export CHURN_SPARK_SQL=$(bash scripts/spark-env.sh)"]
fn spark_builds_the_tables_duckdb_builds() {
    spark_sql();
    let sb = Sandbox::new();
    let config = sb.small(300, 150);
    let lake = sb.path("lake");
    let lake_s = lake.to_string_lossy().into_owned();

    // DuckDB: the SQL stages on the file; the inputs exported to the lake.
    churn_ok(&sb, &["--config", &config, "run", "--to", "training-set"]);
    churn_ok(&sb, &["export", "--out", &lake_s, "users", "events", "loads"]);
    assert!(
        exported(&lake, "events").read_dir().unwrap().any(|e| {
            e.unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("event_month=")
        }),
        "events are exported partitioned by month"
    );
    // Spark: the same stages over the lake.
    let data_stages = ["validate", "prepare", "features", "labels", "training-set"];
    let file = render(&sb, &config, &lake_s, &data_stages, "data.spark.sql");
    // The checks on planted bad rows too, in a lake of their own.
    let bad_lake = sb.path("bad_lake");
    let bad_lake_s = bad_lake.to_string_lossy().into_owned();
    plant_bad_rows(&sb, &bad_lake);
    let checks = render(&sb, &config, &bad_lake_s, &["validate"], "bad.spark.sql");
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str(&std::fs::read_to_string(&checks).unwrap());
    let file = sb.write("data.spark.sql", &text);
    run_spark(&sb, &file);
    let bad_checks = duckdb_checks_of(&sb, &bad_lake);
    let spark_checks: Vec<(String, i64)> = {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn
            .prepare(&format!(
                "select check_name, violations from read_parquet('{}/validation_results/*.parquet') order by all",
                bad_lake.display()
            ))
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        spark_checks, bad_checks,
        "Spark's checks of the planted rows differ from DuckDB's"
    );
    let failing: Vec<&(String, i64)> = bad_checks.iter().filter(|(_, n)| *n > 0).collect();
    assert!(
        failing.len() >= 7,
        "the planted rows fail the checks they break: {failing:?}"
    );
    println!("planted bad rows: Spark and DuckDB agree on every check: {failing:?}");

    // The model: fitted on one node from the training set Spark wrote, and
    // from DuckDB's own table, for the same coefficients.
    churn_ok(&sb, &["--config", &config, "run", "--stage", "train"]);
    let spark_set = lake.join("training_set").to_string_lossy().into_owned();
    churn_ok(&sb, &["--config", &config, "train", "--training-set", &spark_set]);
    churn_ok(
        &sb,
        &[
            "--config",
            &config,
            "run",
            "--stage",
            "promote",
            "--training-set",
            &spark_set,
        ],
    );
    let conn = attached(&sb);
    let newest = |offset: u32| {
        one(
            &conn,
            &format!(
                "select model_id from d.models order by created_at desc, model_id desc limit 1 offset {offset}"
            ),
        )
    };
    let (from_spark, from_duckdb) = (newest(0), newest(1));
    let coefficient_diff: f64 = conn
        .query_row(
            &format!(
                "select max(abs(a.coefficient - b.coefficient)) from d.model_terms a \
                 join d.model_terms b on a.term = b.term \
                 where a.model_id = '{from_spark}' and b.model_id = '{from_duckdb}'"
            ),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        coefficient_diff <= TOLERANCE,
        "the model fitted from Spark's training set differs from DuckDB's by {coefficient_diff:e}"
    );
    drop(conn);
    churn_ok(&sb, &["--config", &config, "models", "promote", &from_spark]);
    churn_ok(
        &sb,
        &[
            "--config",
            &config,
            "run",
            "--stage",
            "score",
            "--stage",
            "drift",
            "--training-set",
            &spark_set,
        ],
    );

    // Spark scores from the exported terms and checks drift by the stored
    // reference profile.
    churn_ok(
        &sb,
        &[
            "export",
            "--out",
            &lake_s,
            "production_model",
            "model_terms",
            "model_reference_bins",
        ],
    );
    let file = render(&sb, &config, &lake_s, &["score", "drift"], "model.spark.sql");
    run_spark(&sb, &file);

    let conn = attached(&sb);
    let scored_on = one(
        &conn,
        &format!("select max(as_of_date)::varchar from d.predictions where model_id = '{from_spark}'"),
    );
    let drift_run = one(
        &conn,
        &format!(
            "select run_id from d.drift_runs where model_id = '{from_spark}' order by checked_at desc limit 1"
        ),
    );
    let checks = [
        (
            "validation_results",
            "select check_name, severity, description, violations, passed from d.validation_results"
                .to_string(),
            vec!["check_name"],
            vec![],
        ),
        (
            "user_daily",
            "select * from d.user_daily".into(),
            vec!["user_id", "activity_date"],
            vec![],
        ),
        (
            "user_features_daily",
            "select * from d.user_features_daily".into(),
            vec!["user_id", "as_of_date"],
            vec![],
        ),
        (
            "labels_daily",
            "select * from d.labels_daily".into(),
            vec!["user_id", "as_of_date"],
            vec![],
        ),
        (
            "training_set",
            "select * from d.training_set".into(),
            vec!["user_id", "as_of_date"],
            vec![],
        ),
        (
            "predictions",
            format!(
                "select as_of_date, user_id, model_id, churn_risk from d.predictions \
                 where model_id = '{from_spark}' and as_of_date = '{scored_on}'"
            ),
            vec!["user_id"],
            vec![],
        ),
        (
            "drift_bins",
            format!("select * exclude (run_id) from d.drift_bins where run_id = '{drift_run}'"),
            vec!["feature", "bin"],
            vec!["run_id"],
        ),
        (
            "drift_results",
            format!("select * exclude (run_id) from d.drift_results where run_id = '{drift_run}'"),
            vec!["feature"],
            vec!["run_id"],
        ),
    ];
    let mut compared = Vec::new();
    for (table, duck, keys, ignore) in &checks {
        compared.push(compare(&conn, table, duck, &lake.join(table), keys, ignore));
    }
    // Spark's scores into the file the API serves: ranked as Rust ranks.
    conn.execute_batch(&format!(
        "create table rust as select user_id, churn_risk, risk_rank from d.predictions \
         where model_id = '{from_spark}' and as_of_date = '{scored_on}'"
    ))
    .unwrap();
    conn.execute_batch("detach d").unwrap();
    let spark_predictions = lake.join("predictions").to_string_lossy().into_owned();
    churn_ok(&sb, &["ingest", "--predictions", &spark_predictions]);
    conn.execute_batch(&format!("attach '{}' as d (read_only)", sb.db().display()))
        .unwrap();
    let (loaded, rank_changes): (i64, i64) = conn
        .query_row(
            &format!(
                "select count(*), count(*) filter (where p.risk_rank <> rust.risk_rank \
                 and abs(p.churn_risk - rust.churn_risk) > 0) from d.predictions p join rust using (user_id) \
                 where p.model_id = '{from_spark}' and p.as_of_date = '{scored_on}'"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(loaded, compared[5].rows, "every Spark score is stored");
    assert_eq!(rank_changes, 0, "Spark's scores rank the users as Rust's do");

    println!("Spark (local[2]) vs DuckDB, 300 users x 150 days:");
    for c in &compared {
        println!(
            "  {:<22} {:>8} rows {:>3} columns  max |diff| {:e}",
            c.table, c.rows, c.columns, c.max_diff
        );
    }
    println!("  model from Spark's training set vs DuckDB's: max |coefficient diff| {coefficient_diff:e}");
}

/// A select of `table` in `catalog` with its DOUBLE columns rounded to 9
/// decimals (DuckDB's parallel sums of doubles may differ in the last bit
/// between runs): every column, or only `only`'s (by name), with their types.
fn rounded(
    conn: &Connection,
    catalog: &str,
    table: &str,
    only: Option<&[(String, String)]>,
) -> (Vec<(String, String)>, String) {
    let mut stmt = conn
        .prepare(&format!(
            "select column_name, column_type from (describe {catalog}.{table})"
        ))
        .unwrap();
    let all: Vec<(String, String)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let columns: Vec<(String, String)> = match only {
        None => all,
        Some(wanted) => wanted
            .iter()
            .map(|(c, _)| {
                all.iter()
                    .find(|(have, _)| have == c)
                    .cloned()
                    .unwrap_or_else(|| panic!("{table} lost column {c}"))
            })
            .collect(),
    };
    let select = columns
        .iter()
        .map(|(c, ty)| {
            if ty == "DOUBLE" && c.starts_with("quiz_avg_score_") {
                // The window means of the daily quiz averages now sum each
                // day's average taken to 1e-9 (an exact decimal sum, the
                // same bits in any order: docs/design.md §9), so they agree
                // with the old double sums to about 1e-10.
                format!("round({c}, 6) as {c}")
            } else if ty == "DOUBLE" {
                format!("round({c}, 9) as {c}")
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    (columns, format!("select {select} from {catalog}.{table}"))
}

/// Rendering for two engines changed nothing DuckDB builds: the SQL the
/// stages printed before the dialects (tests/fixtures/sql-before-dialects)
/// and today's build the same tables from the same data.
#[test]
fn duckdb_builds_what_it_built_before_the_dialects() {
    let sb = Sandbox::new();
    // The default settings the fixtures were rendered with, on 300 users,
    // and a model of the terms their score SQL knows (no log1p or day terms).
    let config = sb
        .write(
            "defaults.toml",
            "[generate]\nusers = 300\n\n[train]\nlog1p = false\nday_bits = false\n\n[promote]\nmin_lift_over_baseline = -1.0\nmax_ece = 1.0\n",
        )
        .to_string_lossy()
        .into_owned();
    churn_ok(&sb, &["--config", &config, "run", "--to", "score"]);
    let new_score = churn_ok(&sb, &["--config", &config, "sql", "score"]);
    let fixture = |stage: &str| {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join(format!("tests/fixtures/sql-before-dialects/{stage}.sql")),
        )
        .unwrap()
    };

    let conn = attached(&sb);
    conn.execute_batch(
        "attach ':memory:' as old; use old;
         create table users as from d.users;
         create table events as from d.events;
         create table loads as from d.loads;
         create table model_terms as from d.model_terms;
         create table production_model as from d.production_model;",
    )
    .unwrap();
    for stage in ["prepare", "features", "labels", "training-set"] {
        conn.execute_batch(&fixture(stage))
            .unwrap_or_else(|e| panic!("the {stage} SQL of before: {e}"));
    }
    for table in [
        "user_daily",
        "user_features_daily",
        "labels_daily",
        "training_set",
    ] {
        // Every column of before, as it was (later issues add columns).
        let (old_columns, old) = rounded(&conn, "old", table, None);
        let (new_columns, new) = rounded(&conn, "d", table, Some(&old_columns));
        // A user's grid now stops after the look-ahead of their last
        // recently-active day (#29, docs/design.md §9): the old rows on the
        // days the new grid keeps, and the training set whole.
        let old = match table {
            "training_set" => old,
            _ => {
                let day = if table == "user_daily" {
                    "activity_date"
                } else {
                    "as_of_date"
                };
                format!(
                    "select * from ({old}) as o where exists (select 1 from d.user_daily as k \
                     where k.user_id = o.user_id and k.activity_date = o.{day})"
                )
            }
        };
        assert_eq!(new_columns, old_columns, "{table}: a column changed its type");
        let differing: i64 = conn
            .query_row(
                &format!(
                    "select count(*) from (({old}) except all ({new}) union all (({new}) except all ({old})))"
                ),
                [],
                |r| r.get(0),
            )
            .unwrap();
        let rows: i64 = conn
            .query_row(&format!("select count(*) from d.{table}"), [], |r| r.get(0))
            .unwrap();
        assert!(rows > 0, "{table} is empty");
        assert_eq!(
            differing, 0,
            "{table}: {differing} of {rows} rows differ from what the old SQL builds"
        );
    }

    // The rows the grid no longer has were never trained on or scored.
    let dropped_active: i64 = conn
        .query_row(
            "select count(*) filter (where recently_active), count(*) from old.user_features_daily as o \
             where not exists (select 1 from d.user_daily as k \
                 where k.user_id = o.user_id and k.activity_date = o.as_of_date)",
            [],
            |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
        )
        .map(|(active, all)| {
            assert!(all > 0, "the grid stopped for nobody");
            active
        })
        .unwrap();
    assert_eq!(dropped_active, 0, "a recently active row left the grid");

    // The scoring SQL's list of numeric columns is the features table's.
    let ctx = churn::sql::SqlContext::new(&churn::config::Config::default());
    let inputs: Vec<String> = ctx
        .numeric_columns
        .iter()
        .filter(|c| !churn::model::frame::NOT_FEATURES.contains(&c.as_str()))
        .cloned()
        .collect();
    assert_eq!(
        inputs,
        churn::store::frames::numeric_features(&conn, "d.user_features_daily").unwrap()
    );

    // Each check finds what it found before (every check, passing or not).
    let old_checks: Vec<&str> = fixture("validate")
        .leak()
        .split("\n;\n")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(old_checks.len(), 14);
    for check in old_checks {
        let name = check
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("-- sql/validate/"))
            .and_then(|l| l.strip_suffix(".sql"))
            .unwrap();
        let before: i64 = conn
            .query_row(&format!("select count(*) from (\n{check}\n)"), [], |r| r.get(0))
            .unwrap();
        let now: i64 = conn
            .query_row(
                "select violations from d.validation_results where check_name = ?",
                [name],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(now, before, "check {name}");
    }

    // The scoring SQL of before and of now, on the same tables (today's
    // features: the model reads inputs added since).
    let select = |text: &str| text.trim().trim_end_matches(';').to_string();
    conn.execute_batch(&format!(
        "create or replace table user_features_daily as from d.user_features_daily;\n\
         create table score_before as {};\ncreate table score_now as {};",
        select(&fixture("score")),
        select(&new_score)
    ))
    .unwrap();
    let (scored, max_diff): (i64, f64) = conn
        .query_row(
            "select count(*), max(abs(b.churn_risk - n.churn_risk)) from score_before b \
             full outer join score_now n using (user_id, as_of_date, model_id)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let before: i64 = conn
        .query_row("select count(*) from score_before", [], |r| r.get(0))
        .unwrap();
    assert!(before > 0);
    assert_eq!(scored, before, "the scored users changed");
    assert!(max_diff <= 1e-12, "the scores changed by {max_diff:e}");
}

/// `churn export` writes each table as a Parquet folder (events by month),
/// and `churn ingest` reads such folders back: the same users and events.
#[test]
fn exported_tables_ingest_back_unchanged() {
    let sb = Sandbox::new();
    let config = sb.small(120, 70);
    churn_ok(&sb, &["--config", &config, "run", "--stage", "generate"]);
    let lake = sb.path("lake");
    let lake_s = lake.to_string_lossy().into_owned();
    let listing = churn_ok(&sb, &["export", "--out", &lake_s, "users", "events"]);
    assert!(
        listing.contains("users") && listing.contains("events"),
        "{listing}"
    );
    let months: Vec<String> = exported(&lake, "events")
        .read_dir()
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        months.iter().any(|m| m == "event_month=2026-01")
            && months.iter().all(|m| m.starts_with("event_month=")),
        "{months:?}"
    );
    // The lake holds the manifest and the export's folder, nothing else.
    let listing = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = dir
            .read_dir()
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(listing(&lake), ["_exports", "_manifest.json"]);
    let first = listing(&lake.join("_exports"));
    assert_eq!(first.len(), 1, "{first:?}");
    // A second export of one table keeps the other's entry, and its folder;
    // a third drops the first export's folders once neither manifest names them.
    churn_ok(&sb, &["export", "--out", &lake_s, "users"]);
    assert!(exported(&lake, "events").starts_with(lake.join("_exports").join(&first[0])));
    assert!(!exported(&lake, "users").starts_with(lake.join("_exports").join(&first[0])));
    assert_eq!(listing(&lake.join("_exports")).len(), 2);
    let second = listing(&lake.join("_exports"));
    for _ in 0..2 {
        churn_ok(&sb, &["export", "--out", &lake_s, "users", "events"]);
    }
    let fourth = listing(&lake.join("_exports"));
    assert_eq!(fourth.len(), 2, "{fourth:?}");
    assert!(
        fourth.iter().all(|id| !second.contains(id)),
        "{second:?} {fourth:?}"
    );
    assert_eq!(listing(&lake), ["_exports", "_manifest.json"]);

    // Readers name the table as LAKE/TABLE, and follow the manifest.
    let copy = Sandbox::new();
    let users = lake.join("users").to_string_lossy().into_owned();
    let events = lake.join("events").to_string_lossy().into_owned();
    let out = copy.churn(&["ingest", "--users", &users, "--events", &events]);
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch(&format!(
        "attach '{}' as a (read_only); attach '{}' as b (read_only);",
        sb.db().display(),
        copy.db().display()
    ))
    .unwrap();
    for (table, columns) in [
        (
            "users",
            "user_id, signup_date, plan, is_paid, country, marketing_source",
        ),
        (
            "events",
            "event_id, user_id, event_time, event_type, course_id, watch_minutes, quiz_score, amount",
        ),
    ] {
        let (rows, differing): (i64, i64) = conn
            .query_row(
                &format!(
                    "select (select count(*) from a.{table}), count(*) from ( \
                     (select {columns} from a.{table} except all select {columns} from b.{table}) union all \
                     (select {columns} from b.{table} except all select {columns} from a.{table}))"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert!(rows > 0);
        assert_eq!(
            differing, 0,
            "{table}: {differing} rows differ after export and ingest"
        );
    }
}

/// An export of several tables is one change to the lake (#31 D8): a kill
/// between two tables, or just before the manifest, leaves the previous
/// export in force, whole, for every reader; the rerun switches to the new
/// one and removes the killed export's folders. Spark's SQL reads the
/// exported tables where the manifest names them.
#[test]
fn a_killed_export_leaves_the_previous_one_whole() {
    let sb = Sandbox::new();
    let config = sb.small(80, 60);
    churn_ok(&sb, &["--config", &config, "run", "--stage", "generate"]);
    let lake = sb.path("lake");
    let lake_s = lake.to_string_lossy().into_owned();
    churn_ok(&sb, &["export", "--out", &lake_s, "users", "events", "loads"]);
    let manifest = std::fs::read_to_string(lake.join("_manifest.json")).unwrap();
    let count = |table: &str| -> i64 {
        Connection::open_in_memory()
            .unwrap()
            .query_row(
                &format!(
                    "select count(*) from read_parquet('{}/**/*.parquet')",
                    exported(&lake, table).display()
                ),
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let first = (count("users"), count("events"), count("loads"));
    let out = sb.churn(&["--config", &config, "generate", "--append-days", "5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for fault in ["between-tables:export", "before-manifest:export"] {
        let out = sb.churn_env(
            &[("CHURN_TEST_FAULT", fault)],
            &["export", "--out", &lake_s, "users", "events", "loads"],
        );
        assert!(!out.status.success(), "{fault}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(lake.join("_manifest.json")).unwrap(),
            manifest,
            "{fault}: the manifest changed"
        );
        assert_eq!(
            (count("users"), count("events"), count("loads")),
            first,
            "{fault}"
        );
        // `churn ingest` of LAKE/TABLE reads the previous export too.
        let copy = Sandbox::new();
        let out = copy.churn(&[
            "ingest",
            "--users",
            &format!("{lake_s}/users"),
            "--events",
            &format!("{lake_s}/events"),
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        let ingested: i64 = copy
            .store()
            .conn
            .query_row("select count(*) from events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ingested, first.1, "{fault}: ingest read a partial export");
    }
    // The rerun: the new export whole, and only the two manifests' folders.
    churn_ok(&sb, &["export", "--out", &lake_s, "users", "events", "loads"]);
    let second = (count("users"), count("events"), count("loads"));
    assert!(second.1 > first.1 && second.2 > first.2, "{first:?} {second:?}");
    assert_eq!(lake.join("_exports").read_dir().unwrap().count(), 2);

    // Spark's SQL reads the exported inputs where the manifest names them,
    // and the others at LAKE/<table>.
    let sql = churn_ok(&sb, &["sql", "--dialect", "spark", "--lake", &lake_s, "validate"]);
    let users = exported(&lake, "users").to_string_lossy().into_owned();
    assert!(sql.contains(&format!("(path '{users}')")), "{sql}");
    let sql = churn_ok(&sb, &["sql", "--dialect", "spark", "--lake", &lake_s, "features"]);
    assert!(sql.contains(&format!("(path '{lake_s}/user_daily')")), "{sql}");
    let ignored = churn_ok(
        &sb,
        &[
            "sql",
            "--dialect",
            "spark",
            "--lake",
            &lake_s,
            "--ignore-manifest",
            "validate",
        ],
    );
    assert!(ignored.contains(&format!("(path '{lake_s}/users')")), "{ignored}");
    // A table Spark would write where readers follow an export is refused.
    churn_ok(&sb, &["--config", &config, "run", "--stage", "validate"]);
    churn_ok(&sb, &["export", "--out", &lake_s, "validation_results"]);
    let out = sb.churn(&["sql", "--dialect", "spark", "--lake", &lake_s, "validate"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("would go unread")
            && stderr(&out).contains("Export only the tables Spark reads"),
        "{}",
        stderr(&out)
    );
}

/// Bad lake arguments get a clear error and change nothing.
#[test]
fn lake_arguments_are_checked() {
    let sb = Sandbox::new();
    let config = sb.small(60, 50);
    churn_ok(&sb, &["--config", &config, "run", "--stage", "generate"]);
    let out = sb.churn(&["export", "--out", "lake", "no_such_table"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no table no_such_table"),
        "{}",
        stderr(&out)
    );

    let out = sb.churn(&["sql", "--dialect", "spark", "prepare"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("--lake"), "{}", stderr(&out));

    let empty = sb.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = sb.churn(&[
        "--config",
        &config,
        "run",
        "--stage",
        "train",
        "--training-set",
        &empty.to_string_lossy(),
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--training-set"), "{}", stderr(&out));

    // A Parquet file that is not a training set is named as such.
    churn_ok(&sb, &["export", "--out", "lake", "users"]);
    let users = sb.path("lake/users").to_string_lossy().into_owned();
    let out = sb.churn(&[
        "--config",
        &config,
        "run",
        "--stage",
        "train",
        "--training-set",
        &users,
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a training set"), "{}", stderr(&out));
    let conn = attached(&sb);
    let models: i64 = conn
        .query_row("select count(*) from d.models", [], |r| r.get(0))
        .unwrap_or(0);
    assert_eq!(models, 0);
}

/// The text without its comment lines.
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every SQL stage renders for Spark without DuckDB-only syntax.
#[test]
fn the_spark_rendering_has_no_duckdb_only_syntax() {
    let config = churn::config::Config::default();
    for stage in [
        churn::stages::Stage::Validate,
        churn::stages::Stage::Prepare,
        churn::stages::Stage::Features,
        churn::stages::Stage::Labels,
        churn::stages::Stage::TrainingSet,
        churn::stages::Stage::Score,
    ] {
        let text = churn::spark::render_spark_sql(stage, &config, "s3a://lake", None, Vec::new()).unwrap();
        for duckdb_only in [
            "exclude (",
            "unpivot",
            "columns(",
            "generate_series",
            "isfinite(",
            "::varchar",
            "$1",
        ] {
            assert!(!code(&text).contains(duckdb_only), "{stage}: {duckdb_only}");
        }
        let code = code(&text);
        let lines: Vec<&str> = code.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        for pair in lines.windows(2) {
            assert!(
                !(pair[0].ends_with(',') && (pair[1].starts_with("from") || pair[1].starts_with(')'))),
                "{stage}: a trailing comma before {:?}",
                pair[1]
            );
        }
        assert!(
            text.contains("insert overwrite directory 's3a://lake/"),
            "{stage}"
        );
    }
}

/// k8s/spark/sql-configmap.yaml is what `churn sql --dialect spark
/// --configmap` prints with the pipeline's config (k8s/configmap.yaml), and
/// every SparkApplication runs a file its ConfigMap holds.
#[test]
fn the_spark_manifests_run_the_rendered_sql() {
    use yaml_rust2::YamlLoader;
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let load =
        |file: &str| YamlLoader::load_from_str(&std::fs::read_to_string(repo.join(file)).unwrap()).unwrap();
    let base = load("k8s/configmap.yaml");
    let toml = base[0]["data"]["churn.toml"].as_str().unwrap();
    let sb = Sandbox::new();
    let config = sb.write("churn.toml", toml).to_string_lossy().into_owned();
    let printed = churn_ok(
        &sb,
        &[
            "--config",
            &config,
            "sql",
            "--dialect",
            "spark",
            "--lake",
            "s3a://churn-lake/lake",
            "--ignore-manifest",
            "--configmap",
            "churn-spark-sql",
        ],
    );
    let committed = std::fs::read_to_string(repo.join("k8s/spark/sql-configmap.yaml")).unwrap();
    assert!(
        printed == committed,
        "k8s/spark/sql-configmap.yaml is stale: render it again with `churn --config <k8s churn.toml> sql \
         --dialect spark --lake s3a://churn-lake/lake --ignore-manifest --configmap churn-spark-sql`"
    );

    let mut keys: Vec<(String, String)> = Vec::new();
    for file in [
        "k8s/spark/sql-configmap.yaml",
        "k8s/spark/model-sql-configmap.yaml",
    ] {
        let doc = &load(file)[0];
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        for (key, _) in doc["data"].as_hash().unwrap() {
            keys.push((name.clone(), key.as_str().unwrap().to_string()));
        }
    }
    let apps = load("k8s/spark/sparkapplications.yaml");
    let mut stages = Vec::new();
    for app in &apps {
        let args: Vec<&str> = app["spec"]["arguments"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let file = args[1].strip_prefix("/etc/churn-sql/").unwrap();
        let volume = app["spec"]["volumes"]
            .as_vec()
            .unwrap()
            .iter()
            .find(|v| v["name"].as_str() == Some("sql"))
            .unwrap();
        let configmap = volume["configMap"]["name"].as_str().unwrap();
        assert!(
            keys.contains(&(configmap.to_string(), file.to_string())),
            "{:?} runs {file}, which ConfigMap {configmap} lacks",
            app["metadata"]["name"]
        );
        stages.push(file.trim_end_matches(".sql").to_string());
    }
    assert_eq!(
        stages,
        [
            "validate",
            "prepare",
            "features",
            "labels",
            "training-set",
            "score",
            "drift"
        ]
    );
}

/// `churn ingest --predictions` loads a scored slice another engine wrote,
/// ranked as the score stage ranks, and refuses a slice it cannot trust.
#[test]
fn predictions_from_another_engine_are_checked_and_ranked() {
    let sb = Sandbox::new();
    let config = sb.small(200, 100);
    churn_ok(&sb, &["--config", &config, "run", "--to", "score"]);
    let lake = sb.path("lake");
    churn_ok(&sb, &["export", "--out", &lake.to_string_lossy(), "predictions"]);
    let conn = attached(&sb);
    let before: i64 = conn
        .query_row("select count(*) from d.predictions", [], |r| r.get(0))
        .unwrap();
    assert!(before > 0);
    let prepare = |name: &str, select: &str| {
        let path = sb.path(name);
        conn.execute_batch(&format!(
            "copy ({select}) to '{}' (format parquet)",
            path.display()
        ))
        .unwrap();
        path.to_string_lossy().into_owned()
    };
    let scored = "select as_of_date, user_id, model_id, churn_risk from d.predictions";
    let shuffled = prepare("shuffled.parquet", &format!("{scored} order by md5(user_id)"));
    let too_high = prepare(
        "too_high.parquet",
        &format!("select as_of_date, user_id, model_id, churn_risk + 1 as churn_risk from ({scored})"),
    );
    let unknown = prepare(
        "unknown.parquet",
        &format!("select as_of_date, user_id, 'logreg-nope' as model_id, churn_risk from ({scored})"),
    );
    let twice = prepare("twice.parquet", &format!("{scored} union all {scored}"));
    let no_risk = prepare("no_risk.parquet", "select 1 as x");
    let strangers = prepare(
        "strangers.parquet",
        &format!("select as_of_date, 'x-' || user_id as user_id, model_id, churn_risk from ({scored})"),
    );
    let far_future = prepare(
        "far_future.parquet",
        &format!(
            "select date '2100-01-01' as as_of_date, user_id, model_id, churn_risk from ({scored}) \
             where as_of_date = (select max(as_of_date) from d.predictions)"
        ),
    );
    drop(conn);

    for (file, says) in [
        (&too_high, "not a probability"),
        (&unknown, "registry lacks: logreg-nope"),
        (&twice, "twice"),
        (&no_risk, "cannot read predictions"),
        (&strangers, "user(s) not in users, e.g. x-"),
        (&far_future, "dated after"),
    ] {
        let out = sb.churn(&["ingest", "--predictions", file]);
        assert_eq!(out.status.code(), Some(1), "{file}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{file}: {}", stderr(&out));
    }
    let out = sb.churn(&["ingest", "--predictions", &shuffled]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = sb.churn(&[
        "ingest",
        "--predictions",
        &lake.join("predictions").to_string_lossy(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let conn = attached(&sb);
    conn.execute_batch(&format!(
        "create table ranks as select * from read_parquet('{}/*.parquet')",
        exported(&lake, "predictions").display()
    ))
    .unwrap();
    let (after, differing): (i64, i64) = conn
        .query_row(
            "select (select count(*) from d.predictions), count(*) from d.predictions p \
             full outer join ranks r using (user_id, as_of_date) \
             where p.risk_rank is distinct from r.risk_rank or p.churn_risk is distinct from r.churn_risk",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(after, before, "the slices were replaced, not added to");
    assert_eq!(differing, 0, "ranks or risks changed on the way through the lake");
}

/// The configured severities reach the rendered checks of both engines: a
/// warned check says warn, an "off" one is not rendered.
#[test]
fn rendered_checks_follow_the_configured_severities() {
    use churn::config::{Config, Severity};
    let mut config = Config::default();
    config
        .validate
        .severity
        .insert("events_payment_amount_positive".into(), Severity::Warn);
    config
        .validate
        .severity
        .insert("events_type_known".into(), Severity::Off);
    let spark =
        churn::spark::render_spark_sql(churn::stages::Stage::Validate, &config, "lake", None, Vec::new())
            .unwrap();
    assert!(
        spark.contains("'events_payment_amount_positive' as check_name,\n    'warn' as severity"),
        "{spark}"
    );
    assert!(!spark.contains("events_type_known"));
    assert!(spark.contains("'events_user_exists' as check_name,\n    'error' as severity"));
    let duckdb = churn::commands::sql::render_stage_sql(churn::stages::Stage::Validate, &config).unwrap();
    assert!(duckdb.contains("sql/validate/events_user_exists.sql"));
    assert!(!duckdb.contains("events_type_known"));
}
