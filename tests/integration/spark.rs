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

use crate::common::{Sandbox, stderr, stdout};

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
        lake.join("events").read_dir().unwrap().any(|e| {
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
    run_spark(&sb, &file);

    // The model: fitted on one node from the training set Spark wrote, and
    // from DuckDB's own table, for the same coefficients.
    churn_ok(&sb, &["--config", &config, "run", "--stage", "train"]);
    let spark_set = lake.join("training_set").to_string_lossy().into_owned();
    churn_ok(
        &sb,
        &[
            "--config",
            &config,
            "run",
            "--stage",
            "train",
            "--training-set",
            &spark_set,
        ],
    );
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
    println!("Spark (local[2]) vs DuckDB, 300 users x 150 days:");
    for c in &compared {
        println!(
            "  {:<22} {:>8} rows {:>3} columns  max |diff| {:e}",
            c.table, c.rows, c.columns, c.max_diff
        );
    }
    println!("  model from Spark's training set vs DuckDB's: max |coefficient diff| {coefficient_diff:e}");
}
