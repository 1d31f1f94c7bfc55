//! Parquet sources (a file, a glob, a folder of an export or of Spark, local
//! or s3://) as `read_parquet` calls.

use duckdb::Connection;

use super::quote;
use crate::error::{Context, Result};

/// The Parquet files a source names, as a `read_parquet` call: a file or a
/// glob as given, a folder (local, or s3:// which needs `use_s3` first) as
/// its .parquet files at any depth, the way `churn export` and Spark write
/// tables (Hive partitions such as event_month=... read as columns).
pub fn read_parquet(source: &str) -> String {
    let pattern = if source.contains('*') || source.ends_with(".parquet") {
        source.to_string()
    } else {
        format!("{}/**/*.parquet", source.trim_end_matches('/'))
    };
    format!(
        "read_parquet({}, hive_partitioning = true, union_by_name = true)",
        quote::string(&pattern)
    )
}

/// `read_parquet(source)`, with s3:// made readable first.
pub fn parquet_source(conn: &Connection, source: &str) -> Result<String> {
    if source.starts_with("s3://") {
        use_s3(conn)?;
    }
    Ok(read_parquet(source))
}

/// Makes s3:// paths readable and writable on this connection: loads
/// DuckDB's httpfs and aws extensions (explicitly: nothing is ever loaded
/// behind our back) from `CHURN_DUCKDB_EXTENSIONS` when set (the image
/// ships them there), and takes the credentials of the environment (a pod's
/// IAM role through IRSA, or the AWS_* variables) by AWS's credential chain.
pub fn use_s3(conn: &Connection) -> Result<()> {
    if let Ok(dir) = std::env::var("CHURN_DUCKDB_EXTENSIONS") {
        conn.execute_batch(&format!("set extension_directory = {}", quote::string(&dir)))
            .context(|| format!("setting DuckDB's extension directory to {dir} (CHURN_DUCKDB_EXTENSIONS)"))?;
    }
    conn.execute_batch(
        "load httpfs; load aws; create or replace secret churn_s3 (type s3, provider credential_chain);",
    )
    .context(|| {
        "s3:// paths need DuckDB's httpfs and aws extensions (the image has them in CHURN_DUCKDB_EXTENSIONS; \
             elsewhere install them once: `duckdb -c 'install httpfs; install aws'`)"
            .into()
    })
}
