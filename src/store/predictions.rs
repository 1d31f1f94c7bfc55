//! The `predictions` table as records: a scored slice (one model's risks for
//! one as-of date) and its rows, as the API serves them and the report lists
//! them.

use chrono::{NaiveDate, NaiveDateTime};
use duckdb::{Connection, OptionalExt, params};

use crate::error::{Context, Result};
use crate::store::query;

/// One slice of `predictions`: what one model scored for one as-of date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    pub model_id: String,
    pub as_of_date: NaiveDate,
    /// When it was last (re)scored.
    pub scored_at: NaiveDateTime,
}

/// One user's row of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct UserRisk {
    pub churn_risk: f64,
    /// 1 = the highest risk of the slice.
    pub risk_rank: i64,
    /// The user's reasons (`prediction_reasons`), best first.
    pub reasons: [Option<SliceReason>; crate::model::reasons::TOP],
}

/// One reason of a served slice, compact: its names are indices into the
/// slice's `Names` (a million users' reasons name a few dozen inputs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceReason {
    pub input: u16,
    pub category: Option<u16>,
    pub value: Option<f64>,
    pub usual: Option<f64>,
    pub contribution: f64,
}

impl SliceReason {
    pub fn reason(&self, names: &Names) -> crate::model::reasons::Reason {
        crate::model::reasons::Reason {
            input: names.get(self.input).to_string(),
            value: self.value,
            category: self.category.map(|c| names.get(c).to_string()),
            usual: self.usual,
            contribution: self.contribution,
        }
    }
}

/// The input and category names of a slice's reasons.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names {
    names: Vec<String>,
    index: std::collections::HashMap<String, u16>,
}

impl Names {
    pub fn intern(&mut self, name: &str) -> u16 {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = u16::try_from(self.names.len()).unwrap_or(u16::MAX);
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), i);
        i
    }

    pub fn get(&self, i: u16) -> &str {
        self.names.get(usize::from(i)).map_or("", String::as_str)
    }

    /// The names in the order of their indices.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

/// When `model_id` last scored.
pub fn last_scored_at(conn: &Connection, model_id: &str) -> Result<Option<NaiveDateTime>> {
    conn.query_row(query("scored_at_latest"), [model_id], |r| r.get(0))
        .context(|| "reading predictions".into())
}

/// The slice to serve: `production`'s newest, or, before it has scored (right
/// after a promotion), the newest slice of any model.
pub fn served_slice(conn: &Connection, production: &str) -> Result<Option<Slice>> {
    conn.query_row(query("served_slice"), [production], |r| {
        Ok(Slice {
            model_id: r.get(0)?,
            as_of_date: r.get(1)?,
            scored_at: r.get(2)?,
        })
    })
    .optional()
    .context(|| "reading predictions".into())
}

/// Every user of `slice` with their risk and rank.
pub fn slice_rows(conn: &Connection, slice: &Slice) -> Result<Vec<(String, UserRisk)>> {
    let mut stmt = conn
        .prepare(query("slice_rows"))
        .context(|| "reading predictions".into())?;
    stmt.query_map(params![slice.model_id, slice.as_of_date], |r| {
        Ok((
            r.get::<_, String>(0)?,
            UserRisk {
                churn_risk: r.get(1)?,
                risk_rank: r.get(2)?,
                reasons: Default::default(),
            },
        ))
    })
    .and_then(|rows| rows.collect())
    .context(|| "reading predictions".into())
}

/// Adds each user's reasons in `slice` (when the file has them) to `rows`,
/// and returns the names they use.
pub fn add_reasons(
    conn: &Connection,
    slice: &Slice,
    rows: &mut std::collections::HashMap<String, UserRisk>,
) -> Result<Names> {
    let mut names = Names::default();
    let mut stmt = conn
        .prepare(query("slice_reasons"))
        .context(|| "reading prediction_reasons".into())?;
    let mut found = stmt
        .query(params![slice.model_id, slice.as_of_date])
        .context(|| "reading prediction_reasons".into())?;
    let what = || "reading prediction_reasons".to_string();
    while let Some(r) = found.next().context(what)? {
        let user: String = r.get(0).context(what)?;
        let rank: i32 = r.get(1).context(what)?;
        let input: String = r.get(2).context(what)?;
        let category: Option<String> = r.get(3).context(what)?;
        let reason = SliceReason {
            input: names.intern(&input),
            category: category.as_deref().map(|c| names.intern(c)),
            value: r.get(4).context(what)?,
            usual: r.get(5).context(what)?,
            contribution: r.get(6).context(what)?,
        };
        let slot = usize::try_from(rank - 1).ok();
        if let (Some(risk), Some(slot)) = (rows.get_mut(&user), slot)
            && slot < risk.reasons.len()
        {
            risk.reasons[slot] = Some(reason);
        }
    }
    Ok(names)
}

/// `model_id`'s newest scored date and how many users it scored then.
pub fn newest_date(conn: &Connection, model_id: &str) -> Result<Option<(NaiveDate, i64)>> {
    conn.query_row(query("slice_latest"), [model_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .context(|| "reading predictions".into())
}
