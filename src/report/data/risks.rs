//! The risk list: the riskiest users of the production model's newest slice,
//! with the model's most influential inputs.

use super::*;

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
    // The model's inputs with the largest coefficients, categorical ones by
    // their largest category, in that order.
    let mut columns: Vec<String> = Vec::new();
    for c in &production.coefficients {
        let feature = c.term.split('=').next().unwrap_or(&c.term).to_string();
        if !columns.contains(&feature) {
            columns.push(feature);
        }
        if columns.len() == RISK_FEATURES {
            break;
        }
    }
    let present: Vec<String> = conn
        .prepare(store::query("table_columns"))
        .and_then(|mut s| {
            s.query_map(["user_features_daily"], |r| r.get::<_, String>(0))?
                .collect()
        })
        .context(|| "reading the columns of user_features_daily".into())?;
    columns.retain(|c| present.contains(c));
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
                })
            })?
            .collect()
        })
        .context(|| "reading the risk list".into())?;
    Ok(Some(RiskList {
        model_id: model_id.clone(),
        as_of_date,
        scored,
        columns,
        rows,
    }))
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
