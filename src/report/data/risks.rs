//! The risk list: the riskiest users of the production model's newest slice,
//! each with their own reasons (`prediction_reasons`), the days since their
//! last activity and their plan; and the same rows as a CSV to download.

use super::*;

/// The feature columns the risk list shows beside each user's reasons.
const RISK_COLUMNS: [&str; 2] = ["days_since_last_activity", "plan"];

pub(super) fn risk_list(store: &Store, production: &ModelCard) -> Result<Option<RiskList>> {
    if !store.table_exists("predictions")? || !store.table_exists("user_features_daily")? {
        return Ok(None);
    }
    let conn = &store.conn;
    let model_id = &production.row.model_id;
    let latest = store::predictions::newest_date(conn, model_id)?;
    let Some((as_of_date, scored)) = latest else {
        return Ok(None);
    };
    // What a retention team reads beside the risk: how long the user has
    // been silent, and their plan.
    let present: Vec<String> = conn
        .prepare(store::query("table_columns"))
        .and_then(|mut s| {
            s.query_map(["user_features_daily"], |r| r.get::<_, String>(0))?
                .collect()
        })
        .context(|| "reading the columns of user_features_daily".into())?;
    let columns: Vec<String> = RISK_COLUMNS
        .iter()
        .filter(|c| present.iter().any(|p| p == *c))
        .map(|c| c.to_string())
        .collect();
    let sql = store::render_query(
        "risk_list",
        &serde_json::json!({"dialect": "duckdb", "rows": RISK_ROWS, "columns": columns}),
    )?;
    let n = columns.len();
    let rows = conn
        .prepare(&sql)
        .and_then(|mut s| {
            s.query_map(duckdb::params![model_id, as_of_date], |r| {
                Ok(RiskRow {
                    risk_rank: r.get(0)?,
                    user_id: r.get(1)?,
                    churn_risk: r.get(2)?,
                    values: (0..n)
                        .map(|k| r.get::<_, duckdb::types::Value>(3 + k).map(|v| show_value(&v)))
                        .collect::<duckdb::Result<_>>()?,
                    reasons: Vec::new(),
                })
            })?
            .collect()
        })
        .context(|| "reading the risk list".into())?;
    let mut rows: Vec<RiskRow> = rows;
    if store.table_exists("prediction_reasons")? {
        let mut stmt = conn
            .prepare(
                "select user_id, reason from prediction_reasons \
                 where model_id = $1 and as_of_date = $2 and user_id in ( \
                     select user_id from predictions where model_id = $1 and as_of_date = $2 and risk_rank <= $3) \
                 order by user_id, reason_rank",
            )
            .context(|| "reading the risk list's reasons".into())?;
        let reasons: Vec<(String, String)> = stmt
            .query_map(duckdb::params![model_id, as_of_date, RISK_ROWS as i64], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .and_then(|rows| rows.collect())
            .context(|| "reading the risk list's reasons".into())?;
        for row in &mut rows {
            row.reasons = reasons
                .iter()
                .filter(|(u, _)| *u == row.user_id)
                .map(|(_, r)| r.clone())
                .collect();
        }
    }
    let csv_href = format!(
        "data:text/csv;charset=utf-8,{}",
        percent_encode(&csv(&columns, &rows))
    );
    Ok(Some(RiskList {
        model_id: model_id.clone(),
        as_of_date,
        scored,
        columns,
        rows,
        csv_href,
    }))
}

/// The listed rows as CSV: rank, user, risk, the columns, three reasons.
fn csv(columns: &[String], rows: &[RiskRow]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = format!(
        "risk_rank,user_id,churn_risk,{},reason_1,reason_2,reason_3\n",
        columns.join(",")
    );
    for r in rows {
        let mut cells = vec![
            r.risk_rank.to_string(),
            field(&r.user_id),
            r.churn_risk.to_string(),
        ];
        cells.extend(r.values.iter().map(|v| field(v.as_deref().unwrap_or(""))));
        cells.extend((0..3).map(|k| field(r.reasons.get(k).map_or("", String::as_str))));
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// Every byte but unreserved ones as %XX (RFC 3986), for a data: URL.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A feature value as the risk list prints it: numbers to three decimals
/// (trailing zeros dropped), text as it is, NULL as None.
fn show_value(v: &duckdb::types::Value) -> Option<String> {
    use duckdb::types::Value as V;
    let float = |x: f64| {
        let s = format!("{x:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" { "0".to_string() } else { s.to_string() }
    };
    Some(match v {
        V::Null => return None,
        V::Boolean(b) => b.to_string(),
        V::TinyInt(x) => x.to_string(),
        V::SmallInt(x) => x.to_string(),
        V::Int(x) => x.to_string(),
        V::BigInt(x) => x.to_string(),
        V::HugeInt(x) => x.to_string(),
        V::UTinyInt(x) => x.to_string(),
        V::USmallInt(x) => x.to_string(),
        V::UInt(x) => x.to_string(),
        V::UBigInt(x) => x.to_string(),
        V::Float(x) => float(*x as f64),
        V::Double(x) => float(*x),
        V::Text(s) => s.clone(),
        other => format!("{other:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_quotes_what_needs_it_and_the_url_encodes_every_reserved_byte() {
        let rows = vec![RiskRow {
            risk_rank: 1,
            user_id: "u1".into(),
            churn_risk: 0.5,
            values: vec![Some("12".into()), None],
            reasons: vec!["a: 5 (usual 1)".into(), "plan: \"pro\", yearly".into()],
        }];
        let text = csv(&["days_since_last_activity".into(), "plan".into()], &rows);
        assert_eq!(
            text,
            "risk_rank,user_id,churn_risk,days_since_last_activity,plan,reason_1,reason_2,reason_3\n\
             1,u1,0.5,12,,a: 5 (usual 1),\"plan: \"\"pro\"\", yearly\",\n"
        );
        assert_eq!(percent_encode("a b,\n%é"), "a%20b%2C%0A%25%C3%A9");
    }
}
