//! `churn export --format parquet --out DIR [TABLE...]`: tables as Parquet
//! folders, the lake a distributed engine (Spark) reads, one folder per
//! table. `events` is Hive-partitioned by month (`event_month=YYYY-MM`), so a
//! reader of a few months skips the others.
//!
//! An export is one change to the lake, whatever the number of tables: each
//! table goes to a folder of this export (`OUT/_exports/<id>/<table>`), and
//! only then is `OUT/_manifest.json` replaced, naming every table's folder
//! (`store::lake`). A reader that follows the manifest (`churn ingest`,
//! `churn train --training-set`, `churn sql --dialect spark --lake`) sees the
//! previous export or this one whole, whenever a kill comes; an export of
//! some tables keeps the manifest's other entries. Locally, the folders no
//! manifest names any more (but those of the previous manifest, which a
//! reader may still be reading) are removed after the switch.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::commands::{Globals, lock_timeout};
use crate::config::Overrides;
use crate::error::{Context, Error, Result};
use crate::store::lake::{self, Manifest, ManifestTable};
use crate::store::{Access, Store};

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Parquet,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file format.
    #[arg(long, value_enum, default_value_t = Format::Parquet)]
    pub format: Format,

    /// The folder that receives one folder per table (created when missing),
    /// or an s3:// URL (credentials from the environment, e.g. a pod's role).
    #[arg(long)]
    pub out: PathBuf,

    /// The tables (and views, e.g. production_model) to write; default:
    /// every table and view of the file.
    pub tables: Vec<String>,
}

/// Tables written Hive-partitioned: (table, partition column, its expression).
const PARTITIONED: &[(&str, &str, &str)] = &[("events", "event_month", "strftime(event_time, '%Y-%m')")];

impl ExportArgs {
    pub fn run(&self, g: &Globals) -> Result<()> {
        let config = g.config(&Overrides::default())?;
        let store = Store::open_existing(g.db(), Access::ReadOnly, lock_timeout(&config))?;
        let exported = export(&store.conn, &self.out, &self.tables)?;
        let lake = self.out.to_string_lossy();
        for (table, entry) in &exported.tables {
            println!(
                "{table:<28} {:>12} rows  {}",
                entry.rows,
                lake::join(&lake, &entry.path)
            );
        }
        println!(
            "export {}: {} named in {}",
            exported.export_id,
            plural(exported.tables.len(), "table"),
            lake::join(&lake, lake::MANIFEST)
        );
        Ok(())
    }
}

/// The tables and views of the file's main schema, sorted.
fn relations(conn: &duckdb::Connection) -> Result<Vec<String>> {
    let mut stmt = conn
        .prepare(
            "select table_name from information_schema.tables \
             where table_schema = 'main' and table_catalog = current_database() order by table_name",
        )
        .context(|| "export: listing the tables".into())?;
    stmt.query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .context(|| "export: listing the tables".into())
}

/// Writes `tables` (every table and view when empty) under `out` as one
/// export, and returns the manifest as it now is (the tables written by
/// this export: those whose `export_id` is its id).
pub fn export(conn: &duckdb::Connection, out: &Path, tables: &[String]) -> Result<Manifest> {
    let known = relations(conn)?;
    let chosen: Vec<String> = if tables.is_empty() {
        known.clone()
    } else {
        tables.to_vec()
    };
    if let Some(unknown) = chosen.iter().find(|t| !known.contains(t)) {
        return Err(Error::Usage(format!(
            "export: the file has no table {unknown}; its tables are: {}",
            known.join(", ")
        )));
    }
    let root = out.to_string_lossy().into_owned();
    let url = lake::is_url(&root);
    if url {
        crate::store::use_s3(conn)?;
    } else {
        std::fs::create_dir_all(out).context(|| format!("export: creating {}", out.display()))?;
    }
    let previous = lake::read_manifest(conn, &root)?;
    let now = chrono::Utc::now();
    let id = now.format("%Y%m%dT%H%M%S%.6fZ").to_string();
    let mut manifest = previous.clone().unwrap_or_default();
    manifest.format = 1;
    manifest.export_id = id.clone();
    manifest.written_at = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for (n, table) in chosen.iter().enumerate() {
        if n > 0 {
            // A test hook: a kill between two tables of one export.
            crate::store::fault_point("between-tables", "export");
        }
        let rel = format!("{}/{id}/{table}", lake::EXPORTS);
        let target = lake::join(&root, &rel);
        let rows = copy_table(conn, table, &target, url)?;
        tracing::info!(table, rows, "exported");
        manifest.tables.insert(
            table.clone(),
            ManifestTable {
                path: rel,
                rows,
                export_id: id.clone(),
            },
        );
    }
    crate::store::fault_point("before-manifest", "export");
    lake::write_manifest(conn, &root, &manifest)?;
    if !url {
        tidy(out, &manifest, previous.as_ref(), &chosen)?;
    }
    Ok(manifest)
}

/// Copies `table` into the new folder `target` (a local path or a URL) and
/// returns its rows: partitioned tables as Hive partitions, others as one
/// `data.parquet`. Locally the folder exists afterwards even for no rows (a
/// partitioned copy of no rows writes none).
fn copy_table(conn: &duckdb::Connection, table: &str, target: &str, url: bool) -> Result<i64> {
    let path = crate::store::quote::string(target);
    let file = crate::store::quote::string(&format!("{target}/data.parquet"));
    let partitioned = PARTITIONED.iter().find(|(t, _, _)| *t == table);
    if !url {
        // DuckDB makes a partitioned copy's folder, not its parents.
        let folder = if partitioned.is_some() {
            Path::new(target).parent().unwrap_or(Path::new(target))
        } else {
            Path::new(target)
        };
        std::fs::create_dir_all(folder).context(|| format!("export: creating {}", folder.display()))?;
    }
    let statement = match partitioned {
        Some((_, column, expr)) => format!(
            "copy (select *, {expr} as {column} from {table}) to {path} \
             (format parquet, partition_by ({column}), write_partition_columns false)"
        ),
        None => format!("copy (select * from {table}) to {file} (format parquet)"),
    };
    let rows = conn
        .query_row(&format!("select count(*) from {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .context(|| format!("export: counting {table}"))?;
    conn.execute_batch(&statement)
        .context(|| format!("export: writing {table} to {target}"))?;
    if !url {
        std::fs::create_dir_all(target).context(|| format!("export: creating {target}"))?;
    }
    Ok(rows)
}

/// After the switch to `manifest`: removes the export folders that neither
/// it nor the `previous` manifest names (those of killed exports, and older
/// ones), and what the layout before manifests left for the tables just
/// written (`OUT/<table>` and its hidden staging folders), which a reader of
/// `OUT/<table>` would otherwise take for the current table.
fn tidy(out: &Path, manifest: &Manifest, previous: Option<&Manifest>, written: &[String]) -> Result<()> {
    let mut keep = manifest.exports();
    if let Some(previous) = previous {
        keep.extend(previous.exports());
    }
    let exports = out.join(lake::EXPORTS);
    if !exports.is_dir() {
        return Ok(());
    }
    let entries = std::fs::read_dir(&exports).context(|| format!("export: listing {}", exports.display()))?;
    for entry in entries {
        let entry = entry.context(|| format!("export: listing {}", exports.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !keep.contains(name.as_str()) {
            remove(&entry.path())?;
        }
    }
    for table in written {
        for old in [
            out.join(table),
            out.join(format!(".{table}.partial")),
            out.join(format!(".{table}.previous")),
        ] {
            if old.is_dir() {
                tracing::info!(folder = %old.display(), "removed the folder of an export made before manifests");
                remove(&old)?;
            }
        }
    }
    Ok(())
}

fn remove(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir).context(|| format!("export: removing {}", dir.display()))
}
