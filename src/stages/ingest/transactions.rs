//! A bare purchase log (one row per purchase) as users and events.

use duckdb::Connection;

use super::files::stage_file;
use crate::error::{Context, Error, Result};
use crate::stages::Outcome;
use crate::store::quote::{self, string as sql_string};

/// How `churn ingest --transactions` reads a bare purchase log.
#[derive(Debug, Clone)]
pub struct Transactions {
    pub file: std::path::PathBuf,
    pub user_col: String,
    pub time_col: String,
    pub amount_col: Option<String>,
    /// strptime format of the time column (e.g. %Y%m%d); none: ISO dates or
    /// timestamps.
    pub time_format: Option<String>,
}

/// Replaces `users` and `events` with a purchase log: one
/// `payment_success` event per row (amount from `amount_col`), and one user
/// per distinct user, signed up on the day of their first purchase (plan
/// paid, country and source unknown). The file's problems are refused with
/// the line and value, changing nothing.
pub fn transactions(conn: &Connection, t: &Transactions, load_id: &str) -> Result<Outcome> {
    let raw = stage_file(conn, &t.file, "ingest_tx_raw", "transactions")?;
    let mut wanted = vec![("--user-col", &t.user_col), ("--time-col", &t.time_col)];
    if let Some(a) = &t.amount_col {
        wanted.push(("--amount-col", a));
    }
    for (flag, column) in &wanted {
        if !raw.has(column) {
            return Err(Error::BadInput(format!(
                "ingest: {flag} {column}: {} has no such column; its columns are: {}",
                t.file.display(),
                raw.columns
                    .iter()
                    .filter(|c| *c != "__row")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    let q = quote::ident;
    let time = match &t.time_format {
        Some(fmt) => format!("try_strptime({}::varchar, {})", q(&t.time_col), sql_string(fmt)),
        None => format!(
            "coalesce(try_cast({c} as timestamp), try_cast({c} as date)::timestamp)",
            c = q(&t.time_col)
        ),
    };
    let amount = match &t.amount_col {
        Some(a) => format!("try_cast({} as double)", q(a)),
        None => "null::double".to_string(),
    };
    conn.execute_batch(&format!(
        "create or replace temp table ingest_tx as \
         select __row, nullif(trim({user}::varchar), '') as user_id, {time} as event_time, \
                {amount} as amount, {raw_time}::varchar as raw_time, {raw_amount} as raw_amount \
         from ingest_tx_raw",
        user = q(&t.user_col),
        raw_time = q(&t.time_col),
        raw_amount = t
            .amount_col
            .as_deref()
            .map_or("null::varchar".to_string(), |a| format!("{}::varchar", q(a))),
    ))
    .context(|| "ingest: reading the transactions".into())?;
    let first_bad = |condition: &str| -> Result<Option<(i64, String)>> {
        conn.query_row(
            &format!(
                "select __row, coalesce(raw_time, 'NULL') || ' / ' || coalesce(raw_amount, 'NULL') \
                 from ingest_tx where {condition} order by __row limit 1"
            ),
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            duckdb::Error::QueryReturnedNoRows => Ok(None),
            e => Err(e),
        })
        .context(|| "ingest: checking the transactions".into())
    };
    let format_hint = match &t.time_format {
        Some(f) => format!("does not match --time-format {f}"),
        None => "is not an ISO date or timestamp (give --time-format, e.g. %Y%m%d)".to_string(),
    };
    let checks = [
        ("user_id is null", "has no user".to_string()),
        ("event_time is null", format!("has a time that {format_hint}")),
        (
            "raw_amount is not null and (amount is null or not isfinite(amount))",
            "has an amount that is not a finite number".to_string(),
        ),
    ];
    for (condition, what) in checks {
        if let Some((row, values)) = first_bad(condition)? {
            return Err(Error::BadInput(format!(
                "ingest: {} {} {what} (time / amount: {values}); fix the file and ingest again",
                t.file.display(),
                raw.place(row)
            )));
        }
    }
    let n: i64 = conn
        .query_row("select count(*) from ingest_tx", [], |r| r.get(0))
        .context(|| "ingest: counting the transactions".into())?;
    if n == 0 {
        return Err(Error::BadInput(format!(
            "ingest: {} holds no transactions",
            t.file.display()
        )));
    }
    conn.execute_batch(
        "delete from events; delete from users; delete from synthetic_truth; delete from simulation;",
    )
    .context(|| "ingest: clearing the stored users and events".into())?;
    conn.execute(
        "insert into users \
         select user_id, min(event_time)::date, 'paid', true, 'unknown', 'unknown', ?::varchar \
         from ingest_tx group by user_id",
        [load_id],
    )
    .context(|| "ingest: deriving users".into())?;
    conn.execute(
        "insert into events \
         select row_number() over (order by user_id, event_time, __row), user_id, event_time, \
                'payment_success', null, null, null, amount, ?::varchar \
         from ingest_tx",
        [load_id],
    )
    .context(|| "ingest: loading events".into())?;
    conn.execute_batch("drop table ingest_tx; drop table ingest_tx_raw;")
        .context(|| "ingest: dropping the staged file".into())?;
    let users: i64 = conn
        .query_row("select count(*) from users", [], |r| r.get(0))
        .context(|| "ingest: counting users".into())?;
    Ok(Outcome {
        rows_out: users + n,
        params: serde_json::json!({
            "transactions_file": t.file.display().to_string(),
            "user_col": t.user_col,
            "time_col": t.time_col,
            "amount_col": t.amount_col,
        }),
        failure: None,
        summary: format!(
            "{n} transactions of {users} users loaded as payment_success events (users signed up at their \
             first purchase); next: `churn --config purchase-log.toml run --from validate`, with the \
             README's purchase-log.toml (*Your own purchase log*: windows of months, free items warned)"
        ),
    })
}
