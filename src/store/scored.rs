//! Rows of a table scored a chunk at a time: what a pass over tens of
//! millions of rows keeps (a user code, a day, a label and one score per
//! model: 24 bytes a row) instead of every input of every row.

use std::collections::HashMap;

use duckdb::Connection;
use ndarray::Array2;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::frame::{Frame, Rows};
use crate::model::preprocess::design;
use crate::store::frames;

/// The scored rows, in the table's scan order.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// The user ids, in the order first met.
    pub users: Vec<String>,
    /// Each row's user, a code into `users`.
    pub user: Vec<u32>,
    /// Days since 1970-01-01.
    pub as_of: Vec<i32>,
    /// 0/1 labels (0 when read without labels).
    pub label: Vec<f64>,
    /// One column of risks per model, in the order the models were given.
    pub scores: Vec<Vec<f64>>,
}

impl Scored {
    pub fn len(&self) -> usize {
        self.as_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_of.is_empty()
    }

    pub fn user_name(&self, i: usize) -> &str {
        &self.users[self.user[i] as usize]
    }

    /// Each row's user as a code in user-id order. The codes of `user` are
    /// in the order the scan met the users, which DuckDB's parallel scan
    /// varies from run to run; a bootstrap that draws users by code needs
    /// the same code for the same user on every run.
    pub fn user_by_id(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.users.len() as u32).collect();
        order.sort_by(|&a, &b| self.users[a as usize].cmp(&self.users[b as usize]));
        let mut rank = vec![0u32; order.len()];
        for (k, &code) in order.iter().enumerate() {
            rank[code as usize] = k as u32;
        }
        self.user.iter().map(|&c| rank[c as usize]).collect()
    }
}

/// Scores the `rows` of `table` with every model of `models`, reading
/// `numeric` (at least the models' numeric inputs), a chunk at a time.
/// `each` sees every chunk as it goes by (to count what else is needed of
/// the rows).
pub fn score_rows(
    conn: &Connection,
    table: &str,
    rows: &Rows,
    numeric: &[String],
    models: &[&Model],
    with_label: bool,
    mut each: impl FnMut(&Frame, &[Array2<f64>]) -> Result<()>,
) -> Result<Scored> {
    let mut out = Scored {
        scores: vec![Vec::new(); models.len()],
        ..Scored::default()
    };
    let mut codes: HashMap<String, u32> = HashMap::new();
    frames::for_each_chunk(conn, table, rows, numeric, with_label, |chunk| {
        let all: Vec<usize> = (0..chunk.len()).collect();
        // The chunk's own user codes, as codes of the whole pass.
        let global: Vec<u32> = chunk
            .users
            .iter()
            .map(|u| match codes.get(u) {
                Some(&c) => c,
                None => {
                    let c = out.users.len() as u32;
                    out.users.push(u.clone());
                    codes.insert(u.clone(), c);
                    c
                }
            })
            .collect();
        out.user.extend(chunk.user.iter().map(|&c| global[c as usize]));
        out.as_of.extend_from_slice(&chunk.as_of);
        out.label.extend_from_slice(&chunk.label);
        // Each model's design matrix of the chunk, built once: scored here,
        // and handed on (score ranks each user's reasons from it).
        let designs: Vec<Array2<f64>> = models.iter().map(|m| design(&m.terms, chunk, &all)).collect();
        for ((scores, model), x) in out.scores.iter_mut().zip(models).zip(&designs) {
            scores.extend(model.predict_design(x));
        }
        each(chunk, &designs)
    })?;
    Ok(out)
}

/// Numeric columns of the rows `scored` holds, read again in one pass in
/// the same scan order (checked row by row: the table must not have
/// changed): one vector per feature of `features`.
pub fn columns_of(
    conn: &Connection,
    table: &str,
    rows: &Rows,
    features: &[String],
    scored: &Scored,
) -> Result<Vec<Vec<f64>>> {
    let mut values: Vec<Vec<f64>> = features
        .iter()
        .map(|_| Vec::with_capacity(scored.len()))
        .collect();
    let mut k = 0;
    let changed = || Error::Changed {
        table: table.to_string(),
    };
    frames::for_each_chunk(conn, table, rows, features, false, |chunk| {
        for i in 0..chunk.len() {
            if k >= scored.len()
                || chunk.as_of[i] != scored.as_of[k]
                || chunk.user_name(i) != scored.user_name(k)
            {
                return Err(changed());
            }
            for (j, column) in values.iter_mut().enumerate() {
                column.push(chunk.numeric[[i, j]]);
            }
            k += 1;
        }
        Ok(())
    })?;
    if k != scored.len() {
        return Err(changed());
    }
    Ok(values)
}
