//! The answer of `GET /users/{id}/risk`, written straight from the loaded
//! slice. It is the route a retention tool calls once per user it shows,
//! so its cost is the API's throughput: most of an answer is the reasons'
//! names, their plain words and each input's usual value, which are the
//! same for every user, so a slice writes them (JSON-escaped) once when it
//! loads, and an answer copies them around the user's own numbers. The
//! bytes are those of `handlers::UserRiskResponse` serialised by serde
//! (the schema the OpenAPI document gives); `tests` checks it over
//! awkward names and values.

use std::borrow::Cow;
use std::io::Write as _;

use chrono::NaiveDate;

use crate::model::reasons::{Number, label};
use crate::store::predictions::{Names, UserRisk};

/// What a slice's answers share, written once per loaded slice.
#[derive(Debug, Default)]
pub struct RiskAnswers {
    /// `"as_of_date":"…","` up to the risk.
    as_of: String,
    /// `,"model_id":"…"`.
    model: String,
    /// Per name of the slice (`Names`): the name as a JSON string.
    name: Vec<String>,
    /// Per name: the name as it goes inside the reason's words, escaped
    /// (a category's words are itself).
    words: Vec<String>,
    /// Per name: the name in plain words (`reasons::label`), escaped (an
    /// input's words).
    label: Vec<String>,
    /// Per input name: its reasons' usual value (the input's training mean)
    /// as the bits it was written from, the JSON number and the words'
    /// " (usual …)".
    usual: Vec<Option<(u64, String, String)>>,
}

/// `text` as a JSON string, quotes included.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}

/// `text` escaped for the inside of a JSON string.
fn escaped(text: &str) -> String {
    let q = quoted(text);
    q[1..q.len() - 1].to_string()
}

/// A usual value as a JSON number and as the words' " (usual …)".
fn usual_pieces(u: f64) -> (String, String) {
    let mut json = Vec::new();
    number(&mut json, u);
    (
        String::from_utf8(json).expect("JSON is UTF-8"),
        escaped(&format!(" (usual {})", Number(u))),
    )
}

/// A number as serde_json writes it (non-finite ones as null).
fn number(out: &mut Vec<u8>, v: f64) {
    serde_json::to_writer(out, &v).expect("writing to a Vec does not fail");
}

impl RiskAnswers {
    /// The shared pieces of the answers of the slice `model_id` scored on
    /// `as_of`, whose reasons name `names`, from its `rows`.
    pub fn new<'a>(
        model_id: &str,
        as_of: NaiveDate,
        names: &Names,
        rows: impl IntoIterator<Item = &'a UserRisk>,
    ) -> RiskAnswers {
        let all: Vec<&str> = names.iter().collect();
        // Each input's usual value: the first its reasons give (all give the
        // same, its training mean).
        let mut usual = vec![None; all.len()];
        for r in rows.into_iter().flat_map(|row| row.reasons.iter().flatten()) {
            if let (Some(u), Some(slot @ None)) = (r.usual, usual.get_mut(usize::from(r.input))) {
                *slot = Some(u);
            }
        }
        RiskAnswers {
            as_of: format!(r#","as_of_date":"{as_of}","churn_risk":"#),
            model: format!(r#","model_id":{}"#, quoted(model_id)),
            name: all.iter().map(|n| quoted(n)).collect(),
            words: all.iter().map(|n| escaped(n)).collect(),
            label: all.iter().map(|n| escaped(&label(n))).collect(),
            usual: (0..all.len())
                .map(|i| {
                    usual[i].map(|u| {
                        let (json, words) = usual_pieces(u);
                        (u.to_bits(), json, words)
                    })
                })
                .collect(),
        }
    }

    /// The answer for `user_id`, whose row of the slice is `risk`.
    pub fn write(&self, user_id: &str, risk: &UserRisk) -> Vec<u8> {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(br#"{"user_id":"#);
        serde_json::to_writer(&mut out, user_id).expect("writing to a Vec does not fail");
        out.extend_from_slice(self.as_of.as_bytes());
        number(&mut out, risk.churn_risk);
        out.extend_from_slice(br#","risk_rank":"#);
        out.extend_from_slice(itoa::Buffer::new().format(risk.risk_rank).as_bytes());
        out.extend_from_slice(self.model.as_bytes());
        out.extend_from_slice(br#","reasons":["#);
        for (k, r) in risk.reasons.iter().flatten().enumerate() {
            let input = usize::from(r.input);
            // The slice's usual value of the input, written once; another
            // (never, from `churn score`) is written here.
            let usual: Option<(Cow<str>, Cow<str>)> = match (r.usual, self.usual.get(input)) {
                (Some(u), Some(Some((bits, json, words)))) if u.to_bits() == *bits => {
                    Some((Cow::Borrowed(json), Cow::Borrowed(words)))
                }
                (Some(u), _) => {
                    let (json, words) = usual_pieces(u);
                    Some((Cow::Owned(json), Cow::Owned(words)))
                }
                (None, _) => None,
            };
            if k > 0 {
                out.push(b',');
            }
            out.extend_from_slice(br#"{"input":"#);
            out.extend_from_slice(self.name(r.input).as_bytes());
            if let Some(v) = r.value {
                out.extend_from_slice(br#","value":"#);
                number(&mut out, v);
            }
            if let Some(c) = r.category {
                out.extend_from_slice(br#","category":"#);
                out.extend_from_slice(self.name(c).as_bytes());
            }
            if let Some((json, _)) = &usual {
                out.extend_from_slice(br#","usual":"#);
                out.extend_from_slice(json.as_bytes());
            }
            out.extend_from_slice(br#","contribution":"#);
            number(&mut out, r.contribution);
            // The words of `Reason::words`: "label: category", "label:
            // value (usual u)" or "label: unknown".
            out.extend_from_slice(br#","reason":""#);
            out.extend_from_slice(self.label(r.input).as_bytes());
            out.extend_from_slice(b": ");
            match (r.category, r.value) {
                (Some(c), _) => out.extend_from_slice(self.words(c).as_bytes()),
                (None, Some(v)) => {
                    // Digits, a sign and a point: nothing to escape.
                    write!(out, "{}", Number(v)).expect("writing to a Vec does not fail");
                    if let Some((_, words)) = &usual {
                        out.extend_from_slice(words.as_bytes());
                    }
                }
                (None, None) => out.extend_from_slice(b"unknown"),
            }
            out.extend_from_slice(br#""}"#);
        }
        out.extend_from_slice(b"]}");
        out
    }

    fn name(&self, i: u16) -> &str {
        self.name.get(usize::from(i)).map_or(r#""""#, String::as_str)
    }

    fn label(&self, i: u16) -> &str {
        self.label.get(usize::from(i)).map_or("", String::as_str)
    }

    fn words(&self, i: u16) -> &str {
        self.words.get(usize::from(i)).map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::handlers::{ReasonBody, UserRiskResponse};
    use crate::store::predictions::SliceReason;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// What serde writes for the schema: the reference.
    fn schema(user: &str, model: &str, as_of: NaiveDate, risk: &UserRisk, names: &Names) -> Vec<u8> {
        serde_json::to_vec(&UserRiskResponse {
            user_id: user.into(),
            as_of_date: as_of.to_string(),
            churn_risk: risk.churn_risk,
            risk_rank: risk.risk_rank,
            model_id: model.into(),
            reasons: risk
                .reasons
                .iter()
                .flatten()
                .map(|r| ReasonBody::from(r.reason(names)))
                .collect(),
        })
        .unwrap()
    }

    fn value(rng: &mut StdRng) -> f64 {
        match rng.random_range(0..6) {
            0 => f64::from(rng.random_range(0..5000)),
            1 => rng.random_range(-3.0..3.0),
            2 => rng.random_range(0.0..0.001),
            3 => rng.random_range(1e3..1e9),
            4 => -f64::from(rng.random_range(0..40)),
            _ => rng.random_range(0.0..1.0),
        }
    }

    /// Every answer equals serde's, byte for byte: names that need escaping
    /// (quotes, a backslash, a control character, non-ASCII), numbers large
    /// and small, missing values, categories, no reasons, and a usual value
    /// that differs from the slice's.
    #[test]
    fn answers_are_the_schema_serialised() {
        let mut names = Names::default();
        let inputs = [
            "active_days_7d",
            "watch_minutes_30d",
            "silence_ratio",
            "a \"quoted\" input",
            "back\\slash",
            "tab\there",
            "née_30d",
        ];
        let categories = ["pro", "free \"trial\"", "ünïcode", "line\nbreak"];
        let input_ids: Vec<u16> = inputs.iter().map(|n| names.intern(n)).collect();
        let plan = names.intern("plan");
        let category_ids: Vec<u16> = categories.iter().map(|n| names.intern(n)).collect();
        let usual_of = |i: usize| [4.2125, 1111.1126004435155, 0.4074, 3.0, -2.5, 1e-4, 17.0][i];
        let mut rng = StdRng::seed_from_u64(7);
        let mut rows = Vec::new();
        for _ in 0..2000 {
            let mut reasons = [None; crate::model::reasons::TOP];
            for slot in reasons
                .iter_mut()
                .take(rng.random_range(0..=crate::model::reasons::TOP))
            {
                *slot = Some(if rng.random_bool(0.2) {
                    SliceReason {
                        input: plan,
                        category: Some(category_ids[rng.random_range(0..categories.len())]),
                        value: None,
                        usual: None,
                        contribution: value(&mut rng),
                    }
                } else {
                    let i = rng.random_range(0..inputs.len());
                    SliceReason {
                        input: input_ids[i],
                        category: None,
                        value: rng.random_bool(0.9).then(|| value(&mut rng)),
                        // Rarely, a usual value other than the slice's.
                        usual: Some(if rng.random_bool(0.05) { 9.75 } else { usual_of(i) }),
                        contribution: value(&mut rng),
                    }
                });
            }
            rows.push(UserRisk {
                churn_risk: rng.random_range(0.0..1.0),
                risk_rank: rng.random_range(1..1_000_000),
                reasons,
            });
        }
        let as_of = NaiveDate::from_ymd_opt(2026, 8, 28).unwrap();
        let model = "logreg-20261206T122525Z-\"8a12\"";
        let answers = RiskAnswers::new(model, as_of, &names, &rows);
        for (k, risk) in rows.iter().enumerate() {
            let user = if k % 7 == 0 {
                format!("ü\"{k}\"")
            } else {
                format!("u{k:06}")
            };
            let written = answers.write(&user, risk);
            let expected = schema(&user, model, as_of, risk, &names);
            assert_eq!(
                String::from_utf8(written).unwrap(),
                String::from_utf8(expected).unwrap(),
                "row {k}"
            );
        }
    }
}
