//! Each user's own reasons: for a logistic regression the margin is exactly
//! the intercept plus one contribution per input term, coefficient ×
//! standardised value (`preprocess::design`), so the inputs that raise a
//! user's risk most are the terms with the largest positive contributions.
//! A numeric input with a log1p term beside its own is one input: its
//! contribution is the sum of its terms'. A missing numeric input (imputed)
//! contributes 0, and one at its training mean about 0; a category
//! contributes its coefficient when the user has it.

use std::fmt::Write as _;

use ndarray::{Array2, ArrayView1, ArrayView2};

use crate::model::Model;
use crate::model::frame::Frame;
use crate::model::preprocess::{active_days, design};
use crate::sql::{ACTIVE_DAY_BITS, ACTIVE_DAY_BITS_COLUMN};

/// The reasons kept per scored user.
pub const TOP: usize = 3;

/// One input's part in a user's margin.
#[derive(Debug, Clone, PartialEq)]
pub struct Reason {
    /// The feature (a column of `user_features_daily`).
    pub input: String,
    /// The user's value of a numeric input (None: missing, imputed).
    pub value: Option<f64>,
    /// The category of a categorical input.
    pub category: Option<String>,
    /// A numeric input's training mean: the value that contributes nothing.
    pub usual: Option<f64>,
    /// coefficient × standardised value, summed over the input's terms:
    /// this input's share of the margin.
    pub contribution: f64,
}

impl Reason {
    /// The reason in words a retention team reads, e.g. "active days in the
    /// last 7 days: 0 (usual 4.2)".
    pub fn words(&self) -> String {
        let label = label(&self.input);
        if self.input == ACTIVE_DAY_BITS_COLUMN
            && let Some(v) = self.value
        {
            return day_bits_words(v);
        }
        match (&self.category, self.value) {
            (Some(category), _) => format!("{label}: {category}"),
            (None, Some(v)) => match self.usual {
                Some(u) => format!("{label}: {} (usual {})", Number(v), Number(u)),
                None => format!("{label}: {}", Number(v)),
            },
            (None, None) => format!("{label}: unknown"),
        }
    }
}

/// Every term's contribution to each row's margin: a row of the design
/// matrix times the coefficients, one column per input term (in the order of
/// `model.terms` without the intercept). Each row sums, with the intercept,
/// to the margin the model scores.
pub fn contributions(model: &Model, frame: &Frame, rows: &[usize]) -> Array2<f64> {
    let beta = coefficients(model);
    let x = design(&model.terms, frame, rows);
    let mut c = Array2::zeros(x.raw_dim());
    for (mut out, row) in c.rows_mut().into_iter().zip(x.rows()) {
        for (cell, v) in out.iter_mut().zip(row_contributions(row, &beta)) {
            *cell = v;
        }
    }
    c
}

/// One row's contribution of each input term: its value in the design
/// matrix times its coefficient (what `contributions` holds and `ranked`
/// sums per input).
fn row_contributions<'a>(row: ArrayView1<'a, f64>, beta: &'a [f64]) -> impl Iterator<Item = f64> + 'a {
    row.into_iter().zip(beta).map(|(v, b)| v * b)
}

/// The coefficients of the model's input terms (without the intercept).
fn coefficients(model: &Model) -> Vec<f64> {
    model
        .terms
        .iter()
        .filter(|t| !t.is_intercept())
        .map(|t| t.coefficient)
        .collect()
}

/// One of a row's top terms, compact (kept for every user of a large slice
/// before it is written).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// Index into the model's input terms (the terms without the intercept):
    /// the input's own term (a numeric column's identity term).
    pub term: usize,
    /// The row's value of a numeric input (NaN: missing, or a category).
    pub value: f64,
    pub contribution: f64,
}

/// Calls `each(k, top)` for every `rows[k]` with its up to `top` terms that
/// raise its risk most: positive contributions, largest first (ties in term
/// order).
pub fn ranked(model: &Model, frame: &Frame, rows: &[usize], top: usize, each: impl FnMut(usize, &[Ranked])) {
    ranked_from(
        model,
        frame,
        rows,
        design(&model.terms, frame, rows).view(),
        top,
        each,
    )
}

/// `ranked`, from `x`, the design matrix of `rows` (one row of `x` each),
/// when the caller has built it already (to score them).
pub fn ranked_from(
    model: &Model,
    frame: &Frame,
    rows: &[usize],
    x: ArrayView2<f64>,
    top: usize,
    mut each: impl FnMut(usize, &[Ranked]),
) {
    let terms: Vec<_> = model.terms.iter().filter(|t| !t.is_intercept()).collect();
    // The inputs, in the order of their first term: a numeric column's
    // terms (its own and its log1p) are one input, a one-hot term is one.
    let mut input_of: Vec<usize> = Vec::with_capacity(terms.len());
    let mut inputs: Vec<usize> = Vec::new();
    for (j, t) in terms.iter().enumerate() {
        let first = (t.category.is_none())
            .then(|| {
                inputs
                    .iter()
                    .position(|&r| terms[r].category.is_none() && terms[r].feature == t.feature)
            })
            .flatten();
        input_of.push(first.unwrap_or_else(|| {
            inputs.push(j);
            inputs.len() - 1
        }));
    }
    // An input's representative term: its column's own (identity) term,
    // whose center is the column's training mean.
    for (slot, r) in inputs.iter_mut().enumerate() {
        if let Some(own) = (0..terms.len()).find(|&j| {
            input_of[j] == slot && terms[j].transform == crate::model::preprocess::Transform::Identity
        }) {
            *r = own;
        }
    }
    let columns: Vec<Option<usize>> = inputs
        .iter()
        .map(|&j| match (&terms[j].category, &terms[j].feature) {
            (None, Some(f)) => frame.numeric_index(f),
            _ => None,
        })
        .collect();
    let beta = coefficients(model);
    let mut sums = vec![0.0f64; inputs.len()];
    let mut order: Vec<usize> = Vec::with_capacity(inputs.len());
    let mut out: Vec<Ranked> = Vec::with_capacity(top);
    for (k, (&i, row)) in rows.iter().zip(x.rows()).enumerate() {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for (v, &slot) in row_contributions(row, &beta).zip(&input_of) {
            sums[slot] += v;
        }
        order.clear();
        order.extend((0..inputs.len()).filter(|&s| sums[s] > 0.0));
        order.sort_by(|&a, &b| sums[b].total_cmp(&sums[a]).then(a.cmp(&b)));
        out.clear();
        out.extend(order.iter().take(top).map(|&s| Ranked {
            term: inputs[s],
            value: columns[s].map_or(f64::NAN, |col| frame.numeric[[i, col]]),
            contribution: sums[s],
        }));
        each(k, &out);
    }
}

/// A ranked term as a reason.
pub fn reason(model: &Model, r: &Ranked) -> Reason {
    let term = model
        .terms
        .iter()
        .filter(|t| !t.is_intercept())
        .nth(r.term)
        .expect("a ranked term is an input term of its model");
    let input = term.feature.clone().unwrap_or_default();
    match &term.category {
        Some(category) => Reason {
            input,
            value: None,
            category: Some(category.clone()),
            usual: None,
            contribution: r.contribution,
        },
        None => Reason {
            input,
            value: Some(r.value).filter(|v| !v.is_nan()),
            category: None,
            // a day term's center is a share of days, not a usual value
            usual: (!term.transform.is_bit()).then_some(term.center),
            contribution: r.contribution,
        },
    }
}

/// `active_day_bits` in words: how many of its days were active, and how
/// many of the latest were quiet, e.g. "active on 4 of the last 21 days,
/// quiet for the last 6".
fn day_bits_words(v: f64) -> String {
    let bits = (v.max(0.0) as u64) & ((1 << ACTIVE_DAY_BITS) - 1);
    let quiet = bits.trailing_zeros().min(ACTIVE_DAY_BITS);
    let active = format!("active on {} of the last {ACTIVE_DAY_BITS} days", active_days(v));
    match quiet {
        0 => format!("{active}, today too"),
        q if q == ACTIVE_DAY_BITS => active,
        1 => format!("{active}, not today"),
        q => format!("{active}, quiet for the last {q}"),
    }
}

/// Up to `top` reasons per row (see `ranked`).
pub fn top_reasons(model: &Model, frame: &Frame, rows: &[usize], top: usize) -> Vec<Vec<Reason>> {
    let mut out = Vec::with_capacity(rows.len());
    ranked(model, frame, rows, top, |_, r| {
        out.push(r.iter().map(|r| reason(model, r)).collect())
    });
    out
}

/// A feature's name in plain words.
pub fn label(feature: &str) -> String {
    if let Some(words) = fixed_label(feature) {
        return words.to_string();
    }
    if let Some((base, w)) = feature.strip_suffix('d').and_then(|f| f.rsplit_once('_'))
        && let Ok(w) = w.parse::<u32>()
        && let Some(what) = window_label(base)
    {
        return format!("{what} in the last {w} days");
    }
    feature.replace('_', " ")
}

fn fixed_label(feature: &str) -> Option<&'static str> {
    Some(match feature {
        "days_since_signup" => "days since signup",
        "is_active_day" => "active on the day",
        "total_events" => "events on the day",
        "logins_count" => "logins on the day",
        "enroll_count" => "course enrolments on the day",
        "watch_minutes_sum" => "minutes watched on the day",
        "quiz_attempts_count" => "quiz attempts on the day",
        "quiz_avg_score" => "mean quiz score on the day",
        "payment_success_count" => "successful payments on the day",
        "payment_failed_count" => "failed payments on the day",
        "support_ticket_count" => "support tickets on the day",
        "payment_amount_sum" => "amount paid on the day",
        "days_since_last_activity" => "days since last activity",
        "lifetime_active_days" => "active days since signup",
        "lifetime_events" => "events since signup",
        "observed_days" => "days observed",
        "lifetime_activity_rate" => "share of days active since signup",
        "mean_active_gap" => "usual days between active days",
        "silence_ratio" => "silence against the usual gap",
        "marketing_source" => "marketing source",
        _ => return None,
    })
}

fn window_label(base: &str) -> Option<&'static str> {
    Some(match base {
        "active_days" => "active days",
        "events" => "events",
        "logins" => "logins",
        "enroll" => "course enrolments",
        "watch_minutes" => "minutes watched",
        "quiz_attempts" => "quiz attempts",
        "payment_success" => "successful payments",
        "payment_failed" => "failed payments",
        "support_ticket" => "support tickets",
        "quiz_avg_score" => "mean quiz score",
        "payment_fail_rate" => "share of payments failed",
        "payment_amount" => "amount paid",
        _ => return None,
    })
}

/// A value as a person reads it: whole numbers whole, others to two
/// decimals at most (three significant digits below 1).
pub struct Number(pub f64);

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let v = self.0;
        if v.is_nan() || v.abs() >= 1e15 {
            // Too large to read anyway, infinite, or not a number.
            return write!(f, "{v}");
        }
        if v == v.trunc() {
            return f.write_str(itoa::Buffer::new().format(v as i64));
        }
        // Formatted on the stack, then written without its trailing zeros.
        let mut buffer = Stack::default();
        if v.abs() >= 1.0 {
            write!(buffer, "{v:.2}")?;
            f.write_str(buffer.as_str().trim_end_matches('0').trim_end_matches('.'))
        } else {
            write!(buffer, "{v:.3}")?;
            f.write_str(buffer.as_str().trim_end_matches('0').trim_end_matches('.'))
        }
    }
}

/// A small text buffer on the stack (a number's digits); writing more than
/// it holds is a formatting error.
struct Stack {
    bytes: [u8; 40],
    len: usize,
}

impl Default for Stack {
    fn default() -> Stack {
        Stack {
            bytes: [0; 40],
            len: 0,
        }
    }
}

impl Stack {
    fn as_str(&self) -> &str {
        // Only whole `&str`s are ever written in.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for Stack {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::preprocess::{INTERCEPT, Term};

    fn term(feature: &str, category: Option<&str>, center: f64, scale: f64, coefficient: f64) -> Term {
        Term {
            term: match category {
                Some(c) => format!("{feature}={c}"),
                None => feature.to_string(),
            },
            feature: Some(feature.to_string()),
            category: category.map(str::to_string),
            center,
            scale,
            coefficient,
            transform: Default::default(),
            by: None,
        }
    }

    fn model() -> Model {
        Model {
            model_id: "m".into(),
            terms: vec![
                Term {
                    term: INTERCEPT.into(),
                    feature: None,
                    category: None,
                    center: 0.0,
                    scale: 1.0,
                    coefficient: -2.5,
                    transform: Default::default(),
                    by: None,
                },
                term("active_days_7d", None, 4.2, 2.0, -0.8),
                term("days_since_last_activity", None, 3.0, 4.0, 0.6),
                term("silence_ratio", None, 1.0, 0.5, 0.3),
                term("plan", Some("free"), 0.0, 1.0, 0.4),
                term("plan", Some("pro"), 0.0, 1.0, -0.2),
            ],
        }
    }

    fn frame(active: f64, silence: f64, ratio: f64, plan: &str) -> Frame {
        Frame::single(
            vec![
                "active_days_7d".into(),
                "days_since_last_activity".into(),
                "silence_ratio".into(),
            ],
            vec![active, silence, ratio],
            [Some(plan.into()), None, None],
        )
    }

    #[test]
    fn a_column_with_a_log1p_term_is_one_reason_with_both_contributions() {
        let mut m = model();
        // log1p(days_since_last_activity): center 1, scale 0.5, coefficient 0.9.
        m.terms.insert(
            2,
            Term {
                term: "log1p(days_since_last_activity)".into(),
                transform: crate::model::preprocess::Transform::Log1p,
                ..term("days_since_last_activity", None, 1.0, 0.5, 0.9)
            },
        );
        let f = frame(0.0, 11.0, 3.0, "free");
        let reasons = top_reasons(&m, &f, &[0], TOP);
        let silence = reasons[0]
            .iter()
            .find(|r| r.input == "days_since_last_activity")
            .expect("a reason");
        // 0.6 (11 − 3) / 4 + 0.9 (ln 12 − 1) / 0.5, its usual the column's mean.
        let expected = 0.6 * (11.0 - 3.0) / 4.0 + 0.9 * (12.0f64.ln() - 1.0) / 0.5;
        assert!((silence.contribution - expected).abs() < 1e-12, "{silence:?}");
        assert_eq!((silence.value, silence.usual), (Some(11.0), Some(3.0)));
        assert_eq!(
            reasons[0]
                .iter()
                .filter(|r| r.input == "days_since_last_activity")
                .count(),
            1
        );
        assert_eq!(
            m.numeric_features(),
            ["active_days_7d", "days_since_last_activity", "silence_ratio"]
        );
    }

    #[test]
    fn contributions_and_the_intercept_make_the_margin() {
        let m = model();
        for f in [
            frame(0.0, 11.0, 3.0, "free"),
            frame(7.0, 0.0, 0.2, "pro"),
            frame(f64::NAN, 2.0, f64::NAN, "basic"),
        ] {
            let c = contributions(&m, &f, &[0]);
            let margin = m.intercept() + c.row(0).sum();
            let risk = m.predict(&f, &[0])[0];
            let sigmoid = 1.0 / (1.0 + (-margin).exp());
            assert!((sigmoid - risk).abs() < 1e-15, "{sigmoid} vs {risk}");
        }
        // By hand: (0 − 4.2)/2 × −0.8 = 1.68; (11 − 3)/4 × 0.6 = 1.2;
        // (3 − 1)/0.5 × 0.3 = 1.2; free: 0.4; pro: 0.
        let c = contributions(&m, &frame(0.0, 11.0, 3.0, "free"), &[0]);
        let expected = [1.68, 1.2, 1.2, 0.4, 0.0];
        for (got, want) in c.row(0).iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
    }

    #[test]
    fn the_reasons_are_the_largest_positive_contributions_in_words() {
        let m = model();
        let reasons = &top_reasons(&m, &frame(0.0, 11.0, 3.0, "free"), &[0], TOP)[0];
        let words: Vec<String> = reasons.iter().map(Reason::words).collect();
        assert_eq!(
            words,
            [
                "active days in the last 7 days: 0 (usual 4.2)",
                // A tie (1.2 each) keeps the terms' order.
                "days since last activity: 11 (usual 3)",
                "silence against the usual gap: 3 (usual 1)",
            ]
        );
        assert!((reasons[0].contribution - 1.68).abs() < 1e-12);
        // A user whose inputs all lower the risk has no reasons; a category
        // is a reason when its coefficient raises the risk.
        assert!(top_reasons(&m, &frame(7.0, 0.0, 0.2, "pro"), &[0], TOP)[0].is_empty());
        let r = &top_reasons(&m, &frame(7.0, 0.0, 0.2, "free"), &[0], TOP)[0];
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].words(), "plan: free");
        // A missing value is imputed to the mean: it contributes nothing.
        let r = &top_reasons(&m, &frame(f64::NAN, 3.0, 1.0, "pro"), &[0], TOP)[0];
        assert!(r.is_empty(), "{r:?}");
    }

    #[test]
    fn labels_and_numbers_read_plainly() {
        assert_eq!(label("payment_failed_30d"), "failed payments in the last 30 days");
        assert_eq!(
            label("payment_fail_rate_30d"),
            "share of payments failed in the last 30 days"
        );
        assert_eq!(label("marketing_source"), "marketing source");
        assert_eq!(label("something_new"), "something new");
        let number = |v: f64| Number(v).to_string();
        assert_eq!(number(4.0), "4");
        assert_eq!(number(4.25), "4.25");
        assert_eq!(number(12.345), "12.35");
        assert_eq!(number(0.05678), "0.057");
        assert_eq!(number(-1.5), "-1.5");
        assert_eq!(number(0.0004), "0");
        assert_eq!(number(-123456789012.345), "-123456789012.35");
        assert_eq!(number(2.5e20), "250000000000000000000");
        assert_eq!(number(f64::INFINITY), "inf");
    }

    #[test]
    fn the_day_bits_read_as_days() {
        let words = |v: f64| {
            Reason {
                input: ACTIVE_DAY_BITS_COLUMN.into(),
                value: Some(v),
                category: None,
                usual: None,
                contribution: 1.0,
            }
            .words()
        };
        // days 0, 1 and 5 before the as-of day
        assert_eq!(
            words(0b100011 as f64),
            "active on 3 of the last 21 days, today too"
        );
        assert_eq!(
            words(0b100010 as f64),
            "active on 2 of the last 21 days, not today"
        );
        // days 6 and 20: the last 6 quiet
        assert_eq!(
            words(((1 << 20) | (1 << 6)) as f64),
            "active on 2 of the last 21 days, quiet for the last 6"
        );
        assert_eq!(words(0.0), "active on 0 of the last 21 days");
    }
}
