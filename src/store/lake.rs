//! The Parquet lake: sources (a file, a glob, a folder of an export or of
//! Spark, local or s3://) as `read_parquet` calls, and the manifest that
//! makes an export of several tables one atomic change (docs/design.md §8).
//!
//! `churn export --out LAKE` writes each table under a folder of its own
//! export, `LAKE/_exports/<export id>/<table>/`, and only then replaces
//! `LAKE/_manifest.json`, which names the folder of every exported table.
//! A reader that follows the manifest sees one export or the other, never a
//! mix: a kill before the manifest is replaced leaves the previous one in
//! force. `LAKE/<table>` given to a reader (`churn ingest`, `churn train
//! --training-set`, `churn sql --dialect spark --lake`) means the folder the
//! manifest names for it when it names one, else the folder itself (tables
//! Spark or another writer keeps at `LAKE/<table>`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use duckdb::Connection;
use serde::{Deserialize, Serialize};

use super::quote;
use crate::error::{Context, Error, Result};

/// The file, at the lake's root, that names each exported table's folder.
pub const MANIFEST: &str = "_manifest.json";

/// The folder, at the lake's root, that holds one folder per export.
pub const EXPORTS: &str = "_exports";

/// `LAKE/_manifest.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// The layout's version (1).
    pub format: u32,
    /// The export that wrote this manifest.
    pub export_id: String,
    /// When (UTC, RFC 3339).
    pub written_at: String,
    /// Each table of the lake that an export wrote, by name.
    pub tables: BTreeMap<String, ManifestTable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestTable {
    /// Its folder, relative to the lake's root.
    pub path: String,
    pub rows: i64,
    /// The export that wrote it (an export of some tables keeps the others'
    /// entries).
    pub export_id: String,
}

impl Manifest {
    /// The export ids whose folders this manifest reads.
    pub fn exports(&self) -> std::collections::BTreeSet<&str> {
        self.tables.values().map(|t| t.export_id.as_str()).collect()
    }
}

/// `base/rel`, with one slash.
pub fn join(base: &str, rel: &str) -> String {
    format!("{}/{rel}", base.trim_end_matches('/'))
}

/// An object-store URL (s3://, or Spark's s3a://) rather than a local path.
pub fn is_url(location: &str) -> bool {
    location.contains("://")
}

/// The URL as DuckDB's httpfs reads it: s3a:// (Hadoop's scheme, which
/// Spark's SQL uses) is the same object as s3://.
fn duckdb_url(url: &str) -> String {
    match url.strip_prefix("s3a://") {
        Some(rest) => format!("s3://{rest}"),
        None => url.to_string(),
    }
}

/// The manifest of the lake at `lake`, if it has one.
pub fn read_manifest(conn: &Connection, lake: &str) -> Result<Option<Manifest>> {
    let place = join(lake, MANIFEST);
    let text = if is_url(lake) {
        use_s3(conn)?;
        let url = duckdb_url(&place);
        let found: i64 = conn
            .query_row("select count(*) from glob(?)", [&url], |r| r.get(0))
            .context(|| format!("looking for {place}"))?;
        if found == 0 {
            return Ok(None);
        }
        conn.query_row("select content from read_text(?)", [&url], |r| {
            r.get::<_, String>(0)
        })
        .context(|| format!("reading {place}"))?
    } else {
        match std::fs::read_to_string(&place) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).context(|| format!("reading {place}")),
        }
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        Error::BadInput(format!(
            "{place} is not a churn export manifest ({e}); export the tables again (`churn export --out {lake}`) \
             after moving that file away"
        ))
    })
}

/// Writes `manifest` as the lake's: the commit point of an export. Locally a
/// hidden file, synced, then renamed over the old one (and the folder
/// synced); on an object store one PUT of the whole object, which readers
/// see whole or not at all.
pub fn write_manifest(conn: &Connection, lake: &str, manifest: &Manifest) -> Result<()> {
    let place = join(lake, MANIFEST);
    let text = serde_json::to_string(manifest).context(|| "writing the lake's manifest".into())?;
    if is_url(lake) {
        let tables =
            serde_json::to_string(&manifest.tables).context(|| "writing the lake's manifest".into())?;
        conn.execute_batch(&format!(
            "copy (select {} as format, {} as export_id, {} as written_at, {}::json as tables) to {} (format json)",
            manifest.format,
            quote::string(&manifest.export_id),
            quote::string(&manifest.written_at),
            quote::string(&tables),
            quote::string(&duckdb_url(&place)),
        ))
        .context(|| format!("writing {place}"))?;
        return Ok(());
    }
    let root = Path::new(lake);
    let partial = root.join(".manifest.json.partial");
    let what = || format!("writing {}", partial.display());
    let mut file = std::fs::File::create(&partial).context(what)?;
    file.write_all(format!("{text}\n").as_bytes()).context(what)?;
    file.sync_all().context(what)?;
    drop(file);
    std::fs::rename(&partial, &place).context(|| format!("renaming {} to {place}", partial.display()))?;
    // The rename is durable once the folder's entry is.
    if let Ok(dir) = std::fs::File::open(root) {
        let _ = dir.sync_all();
    }
    Ok(())
}

/// Where a reader finds `source`'s rows: a file or a glob as given; a folder
/// `LAKE/TABLE` as the lake's manifest names it, when it names TABLE; else
/// the folder as given.
pub fn resolve(conn: &Connection, source: &str) -> Result<String> {
    if source.contains('*') || source.ends_with(".parquet") {
        return Ok(source.to_string());
    }
    let trimmed = source.trim_end_matches('/');
    let Some((lake, table)) = trimmed.rsplit_once('/') else {
        return Ok(source.to_string());
    };
    if !is_url(lake) && !Path::new(lake).join(MANIFEST).exists() {
        return Ok(source.to_string());
    }
    Ok(
        match read_manifest(conn, lake)?.and_then(|m| m.tables.get(table).cloned()) {
            Some(entry) => join(lake, &entry.path),
            None => source.to_string(),
        },
    )
}

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

/// `read_parquet` of what `source` names (through the lake's manifest, see
/// `resolve`), with s3:// made readable first.
pub fn parquet_source(conn: &Connection, source: &str) -> Result<String> {
    if source.starts_with("s3://") {
        use_s3(conn)?;
    }
    Ok(read_parquet(&resolve(conn, source)?))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(tables: &[(&str, &str)]) -> Manifest {
        Manifest {
            format: 1,
            export_id: "e2".into(),
            written_at: "2026-12-06T00:00:00Z".into(),
            tables: tables
                .iter()
                .map(|(t, id)| {
                    (
                        t.to_string(),
                        ManifestTable {
                            path: format!("{EXPORTS}/{id}/{t}"),
                            rows: 3,
                            export_id: id.to_string(),
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_folder_of_the_lake_reads_where_the_manifest_says() {
        let dir = std::env::temp_dir().join(format!("churn-lake-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lake = dir.to_string_lossy().into_owned();
        let conn = Connection::open_in_memory().unwrap();
        // No manifest: every folder as given.
        assert_eq!(read_manifest(&conn, &lake).unwrap(), None);
        assert_eq!(
            resolve(&conn, &join(&lake, "users")).unwrap(),
            join(&lake, "users")
        );
        let m = manifest(&[("users", "e1"), ("events", "e2")]);
        write_manifest(&conn, &lake, &m).unwrap();
        assert_eq!(read_manifest(&conn, &lake).unwrap(), Some(m.clone()));
        assert_eq!(m.exports().into_iter().collect::<Vec<_>>(), ["e1", "e2"]);
        assert_eq!(
            resolve(&conn, &join(&lake, "users/")).unwrap(),
            join(&lake, "_exports/e1/users")
        );
        // A table the manifest does not name, a file and a glob: as given.
        for source in [
            join(&lake, "user_daily"),
            join(&lake, "x.parquet"),
            join(&lake, "users/*.parquet"),
        ] {
            assert_eq!(resolve(&conn, &source).unwrap(), source);
        }
        // No partial file is left beside it.
        assert!(!dir.join(".manifest.json.partial").exists());
        // A file that is not a manifest is refused, saying what to do.
        std::fs::write(dir.join(MANIFEST), "{\"tables\": 3}").unwrap();
        let err = resolve(&conn, &join(&lake, "users")).unwrap_err().to_string();
        assert!(
            err.contains("not a churn export manifest") && err.contains("export the tables again"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn spark_urls_read_as_duckdb_urls() {
        assert_eq!(
            duckdb_url("s3a://b/lake/_manifest.json"),
            "s3://b/lake/_manifest.json"
        );
        assert_eq!(duckdb_url("s3://b/lake"), "s3://b/lake");
        assert!(is_url("s3a://b/lake") && !is_url("/data/lake"));
    }
}
