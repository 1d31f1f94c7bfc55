//! Rows of model inputs in memory: the frame (numeric matrix, category
//! codes, labels), which rows a read keeps, and the purged time split
//! (docs/design.md §3). Pure: reading a frame from DuckDB is
//! the store's work
//! (`src/store/frames.rs`).

use std::collections::BTreeSet;

use chrono::NaiveDate;
use ndarray::Array2;

use crate::config::Population;
use crate::error::{ModelError, Result};

/// Categorical inputs, one-hot encoded.
pub const CATEGORICAL: [&str; 3] = ["plan", "country", "marketing_source"];

/// Columns that are never model inputs: keys, dates, the label and its
/// count, `is_paid` (the same fact as `plan`), and the lifetime counts, which
/// grow with the length of the data rather than with the user (a model
/// reading them would drift by the calendar; their rate, the mean gap and
/// the silence ratio are inputs).
pub const NOT_FEATURES: [&str; 9] = [
    "user_id",
    "as_of_date",
    "signup_date",
    "is_paid",
    "future_active_days",
    "churn_label",
    "lifetime_active_days",
    "lifetime_events",
    "observed_days",
];

/// Rows of model inputs: numeric values (NaN = NULL), categories, labels.
/// Users and categories are held as small codes into dictionaries (at a
/// million users a string per row was most of the train stage's memory).
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// Each row's user, a code into `users`.
    pub user: Vec<u32>,
    /// The user ids, in the order first met.
    pub users: Vec<String>,
    /// Days since 1970-01-01.
    pub as_of: Vec<i32>,
    pub numeric_names: Vec<String>,
    /// n × p, NaN where the value is NULL.
    pub numeric: Array2<f64>,
    /// One column per CATEGORICAL input: 0 = NULL, c = `levels[k][c - 1]`.
    pub categorical: Vec<Vec<u16>>,
    /// The categories met, per CATEGORICAL input.
    pub levels: Vec<Vec<String>>,
    /// 0/1 labels when loaded with labels.
    pub label: Vec<f64>,
}

impl Frame {
    pub fn len(&self) -> usize {
        self.as_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.as_of.is_empty()
    }

    pub fn numeric_index(&self, name: &str) -> Option<usize> {
        self.numeric_names.iter().position(|n| n == name)
    }

    pub fn categorical_index(name: &str) -> Option<usize> {
        CATEGORICAL.iter().position(|c| *c == name)
    }

    /// The user id of row `i`.
    pub fn user_name(&self, i: usize) -> &str {
        &self.users[self.user[i] as usize]
    }

    /// The category of categorical input `k` at row `i`.
    pub fn category(&self, k: usize, i: usize) -> Option<&str> {
        match self.categorical[k][i] {
            0 => None,
            c => Some(self.levels[k][c as usize - 1].as_str()),
        }
    }

    /// The code of `category` in input `k` (None when no row has it).
    pub fn category_code(&self, k: usize, category: &str) -> Option<u16> {
        self.levels[k]
            .iter()
            .position(|c| c == category)
            .map(|c| c as u16 + 1)
    }

    /// A one-row frame (the API's instances).
    pub fn single(numeric_names: Vec<String>, numeric: Vec<f64>, categories: [Option<String>; 3]) -> Frame {
        let p = numeric_names.len();
        let mut levels = vec![Vec::new(); CATEGORICAL.len()];
        let categorical = categories
            .into_iter()
            .enumerate()
            .map(|(k, c)| match c {
                Some(c) => {
                    levels[k].push(c);
                    vec![1]
                }
                None => vec![0],
            })
            .collect();
        Frame {
            user: vec![0],
            users: vec![String::new()],
            as_of: vec![0],
            numeric_names,
            numeric: Array2::from_shape_vec((1, p), numeric).expect("one row of p values"),
            categorical,
            levels,
            label: vec![0.0],
        }
    }

    /// An empty frame with room for `n` rows of `numeric` columns.
    pub(crate) fn with_capacity(numeric: &[String], n: usize) -> Frame {
        Frame {
            user: Vec::with_capacity(n),
            users: Vec::new(),
            as_of: Vec::with_capacity(n),
            numeric_names: numeric.to_vec(),
            numeric: Array2::zeros((n, numeric.len())),
            categorical: vec![Vec::with_capacity(n); CATEGORICAL.len()],
            levels: vec![Vec::new(); CATEGORICAL.len()],
            label: Vec::with_capacity(n),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Rows {
    /// Rows whose `as_of_date` lies in one of these ranges (both ends
    /// included).
    Dates(Vec<(NaiveDate, NaiveDate)>),
    /// The rows of the as-of dates from `from` to `to` (both included), of
    /// the configured population (`recently_active` for `active`, the rule
    /// of user_features_daily).
    Population {
        from: NaiveDate,
        to: NaiveDate,
        population: Population,
    },
}

impl Rows {
    /// The condition, with `?` for each value of `params`.
    pub(crate) fn condition(&self) -> String {
        match self {
            Rows::Dates(ranges) if ranges.is_empty() => "false".into(),
            Rows::Dates(ranges) => format!(
                "({})",
                vec!["as_of_date between ? and ?"; ranges.len()].join(" or ")
            ),
            Rows::Population {
                population: Population::All,
                ..
            } => "as_of_date between ? and ?".into(),
            Rows::Population {
                population: Population::Active,
                ..
            } => "as_of_date between ? and ? and recently_active".into(),
        }
    }

    pub(crate) fn params(&self) -> Vec<NaiveDate> {
        match self {
            Rows::Dates(ranges) => ranges.iter().flat_map(|&(a, b)| [a, b]).collect(),
            Rows::Population { from, to, .. } => vec![*from, *to],
        }
    }
}

/// Keeps every row, or the as-of dates of each user one in `every` days
/// from an offset of its own (seeded): the sampled training rows of
/// `train.as_of_every_days`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sample {
    All,
    EveryDays { every: u32, seed: u64 },
}

impl Sample {
    /// FNV-1a of the user id and the seed: the same offset on every run and
    /// every engine.
    fn offset(user_id: &str, every: u32, seed: u64) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
        for b in user_id.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        (h % u64::from(every)) as i64
    }

    pub fn keeps(&self, user_id: &str, day: i32) -> bool {
        match *self {
            Sample::All => true,
            Sample::EveryDays { every, .. } if every <= 1 => true,
            Sample::EveryDays { every, seed } => {
                (i64::from(day) + Sample::offset(user_id, every, seed)).rem_euclid(i64::from(every)) == 0
            }
        }
    }
}

impl Frame {
    /// Cuts the matrix to the rows read (a sampled load reserves room for
    /// every row), in place: its untouched pages were never resident, so the
    /// room left over is address space, not memory. Giving it back
    /// (`shrink_to_fit`) made the allocator copy the kept rows into fresh
    /// pages (train at 100,000 users: 0.97× the wall time without it, the
    /// same peak; bench/README.md).
    pub(crate) fn shrink(&mut self) {
        let (kept, p) = (self.len(), self.numeric.ncols());
        if kept < self.numeric.nrows() {
            let numeric = std::mem::take(&mut self.numeric);
            let (mut values, offset) = numeric.into_raw_vec_and_offset();
            debug_assert!(offset.unwrap_or(0) == 0, "a frame's matrix starts its buffer");
            values.truncate(kept * p);
            self.numeric = Array2::from_shape_vec((kept, p), values).expect("kept rows of p values");
        }
    }

    /// Puts the rows in (user_id, as_of) order, in place.
    pub(crate) fn sort_by_key(&mut self) {
        let (users, codes, days) = (&self.users, &self.user, &self.as_of);
        let key = |i: usize| (users[codes[i] as usize].as_str(), days[i]);
        if (1..self.len()).all(|i| key(i - 1) <= key(i)) {
            return;
        }
        // A stable sort of the row numbers finds the runs the scan already
        // has and merges them, reading the keys nearly in order: a few
        // linear passes. (Sorting by keys far from the scan's order, with
        // random reads of the strings, took minutes at 8.7 million rows.)
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|&a, &b| key(a).cmp(&key(b)));
        self.user = order.iter().map(|&i| self.user[i]).collect();
        self.as_of = order.iter().map(|&i| self.as_of[i]).collect();
        self.label = order.iter().map(|&i| self.label[i]).collect();
        for col in &mut self.categorical {
            *col = order.iter().map(|&i| col[i]).collect();
        }
        permute_rows(&mut self.numeric, &order);
    }
}

/// Reorders the rows of `a` in place so that row k becomes the old row
/// `order[k]`, following each cycle of the permutation with one row of
/// scratch space.
fn permute_rows(a: &mut Array2<f64>, order: &[usize]) {
    let p = a.ncols();
    let data = a.as_slice_mut().expect("a standard-layout matrix");
    let mut done = vec![false; order.len()];
    let mut scratch = vec![0.0; p];
    for start in 0..order.len() {
        if done[start] {
            continue;
        }
        scratch.copy_from_slice(&data[start * p..(start + 1) * p]);
        let mut k = start;
        loop {
            done[k] = true;
            let from = order[k];
            if from == start {
                data[k * p..(k + 1) * p].copy_from_slice(&scratch);
                break;
            }
            data.copy_within(from * p..(from + 1) * p, k * p);
            k = from;
        }
    }
}

/// The purged time split of docs/design.md §3, as as-of day numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub train_from: i32,
    /// Last train as-of day (inclusive).
    pub train_to: i32,
    pub test_from: i32,
    pub test_to: i32,
}

impl Split {
    /// The last `test_fraction` of the distinct as-of dates are test (at
    /// least one date); train rows end more than `purge_days` days before
    /// the first test date, so no train label's look-ahead reaches into the
    /// test period (`purge_days` = horizon + inactive days).
    /// With `window_days` > 0, train dates reach back at most that many
    /// days from the last one (a rolling window: a retrain learns the world
    /// as it is now).
    pub fn by_date(dates: &[i32], test_fraction: f64, purge_days: u32, window_days: u32) -> Result<Split> {
        let distinct: Vec<i32> = dates
            .iter()
            .copied()
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if distinct.len() < 2 {
            return Err(ModelError::TooFewDates {
                dates: distinct.len(),
            }
            .into());
        }
        let n_test = ((distinct.len() as f64 * test_fraction).ceil() as usize).clamp(1, distinct.len() - 1);
        let test_from = distinct[distinct.len() - n_test];
        let last_train = test_from - 1 - purge_days as i32;
        let first_train = if window_days > 0 {
            last_train - window_days as i32 + 1
        } else {
            i32::MIN
        };
        let train: Vec<i32> = distinct
            .iter()
            .copied()
            .filter(|&d| d <= last_train && d >= first_train)
            .collect();
        let (Some(&train_from), Some(&train_to)) = (train.first(), train.last()) else {
            return Err(ModelError::NoTrainDates {
                test_starts: distinct.len() - n_test + 1,
                dates: distinct.len(),
                purge_days,
            }
            .into());
        };
        Ok(Split {
            train_from,
            train_to,
            test_from,
            test_to: *distinct.last().expect("non-empty"),
        })
    }

    /// The train rows.
    pub fn train(&self) -> Rows {
        Rows::Dates(vec![(day_to_date(self.train_from), day_to_date(self.train_to))])
    }

    /// The test rows.
    pub fn test(&self) -> Rows {
        Rows::Dates(vec![(day_to_date(self.test_from), day_to_date(self.test_to))])
    }
}

/// A day number as a date.
pub fn day_to_date(day: i32) -> chrono::NaiveDate {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::Duration::days(i64::from(day))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_without_train_dates_says_what_to_change() {
        use crate::error::{Error, ModelError};
        match Split::by_date(&[5, 5], 0.5, 0, 0) {
            Err(Error::Model(ModelError::TooFewDates { dates: 1 })) => {}
            other => panic!("{other:?}"),
        }
        // Three dates, the last one for testing and a purge of two: none
        // left to train on.
        match Split::by_date(&[1, 2, 3], 0.2, 2, 0) {
            Err(Error::Model(
                e @ ModelError::NoTrainDates {
                    test_starts: 3,
                    dates: 3,
                    purge_days: 2,
                },
            )) => {
                assert!(e.to_string().contains("smaller train.test_fraction"), "{e}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn permute_rows_moves_every_row_to_its_place() {
        let mut a = Array2::from_shape_fn((6, 3), |(i, j)| (10 * i + j) as f64);
        let order = [3, 0, 4, 1, 2, 5];
        permute_rows(&mut a, &order);
        for (k, &from) in order.iter().enumerate() {
            let want: Vec<f64> = (0..3).map(|j| (10 * from + j) as f64).collect();
            assert_eq!(a.row(k).to_vec(), want, "row {k}");
        }
    }

    #[test]
    fn sort_by_key_orders_rows_by_user_then_date() {
        let mut frame = Frame {
            user: vec![0, 1, 2, 1],
            users: ["b", "a", "c"].map(String::from).to_vec(),
            as_of: vec![2, 2, 1, 1],
            numeric_names: vec!["x".into()],
            numeric: Array2::from_shape_vec((4, 1), vec![0.0, 1.0, 2.0, 3.0]).unwrap(),
            categorical: vec![vec![1, 2, 0, 3]; CATEGORICAL.len()],
            levels: vec![["p0", "p1", "p3"].map(String::from).to_vec(); CATEGORICAL.len()],
            label: vec![0.0, 1.0, 0.0, 1.0],
        };
        frame.sort_by_key();
        let names: Vec<&str> = (0..4).map(|i| frame.user_name(i)).collect();
        assert_eq!(names, ["a", "a", "b", "c"]);
        assert_eq!(frame.as_of, [1, 2, 2, 1]);
        assert_eq!(frame.numeric.column(0).to_vec(), [3.0, 1.0, 0.0, 2.0]);
        assert_eq!(frame.label, [1.0, 1.0, 0.0, 0.0]);
        let cats: Vec<Option<&str>> = (0..4).map(|i| frame.category(2, i)).collect();
        assert_eq!(cats, [Some("p3"), Some("p1"), Some("p0"), None]);
    }

    #[test]
    fn the_sample_keeps_one_day_in_every_from_each_users_offset() {
        let s = Sample::EveryDays { every: 7, seed: 42 };
        for user in ["u000001", "u000002", "someone"] {
            let kept: Vec<i32> = (0..28).filter(|&d| s.keeps(user, d)).collect();
            assert_eq!(kept.len(), 4, "{user}: {kept:?}");
            assert!(kept.windows(2).all(|w| w[1] - w[0] == 7));
        }
        // Offsets differ between users, and every day is kept with every = 1.
        let first = |u: &str| (0..7).find(|&d| s.keeps(u, d)).unwrap();
        assert!(
            (1..50)
                .map(|i| first(&format!("u{i:06}")))
                .collect::<BTreeSet<_>>()
                .len()
                > 3
        );
        assert!((0..10).all(|d| Sample::EveryDays { every: 1, seed: 1 }.keeps("x", d)));
        assert!(Sample::All.keeps("x", 3));
    }

    #[test]
    fn split_takes_the_last_dates_and_purges_the_gap() {
        let dates: Vec<i32> = (0..100).collect();
        let s = Split::by_date(&dates, 0.2, 30, 0).unwrap();
        assert_eq!((s.test_from, s.test_to), (80, 99));
        // train as-of days d with d + 30 < 80: the last label horizon ends on day 79.
        assert_eq!((s.train_from, s.train_to), (0, 49));
        let s = Split::by_date(&dates, 0.2, 0, 0).unwrap();
        assert_eq!(s.train_to, 79);
        // A 20-day rolling window: train days 30..=49.
        let s = Split::by_date(&dates, 0.2, 30, 20).unwrap();
        assert_eq!((s.train_from, s.train_to, s.test_from), (30, 49, 80));
        assert!(Split::by_date(&(0..20).collect::<Vec<_>>(), 0.5, 30, 0).is_err());
        assert!(Split::by_date(&[3, 3, 3], 0.2, 0, 0).is_err());
    }
}
