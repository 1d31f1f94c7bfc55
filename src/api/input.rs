//! Request bodies: our own JSON extractors, so that every bad body gets the
//! API's JSON error (malformed 400, too large 413, bad values 422), and so
//! that what is buffered stays bounded. A declared Content-Length over the
//! limit is refused before a byte is read; a body without one is read up to
//! the limit. A batch is parsed as a stream: its instances are taken one at
//! a time and the parse stops at the first instance past the bound, so a
//! body of a million tiny instances never becomes a million values.

use std::collections::BTreeMap;
use std::fmt;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{StatusCode, header};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::error::{ApiError, Problem};

/// Largest request body of /predict.
pub const MAX_BODY: usize = 1 << 20;
/// Largest request body of /predict/batch: 10,000 instances of every
/// input at about 1.5 KB each.
pub const MAX_BATCH_BODY: usize = 16 << 20;
/// Most instances in one /predict/batch request.
pub const MAX_BATCH: usize = 10_000;

/// The largest magnitude a numeric feature may have: far beyond any count,
/// minute or score, and small enough that no input overflows the model.
pub const MAX_ABS_VALUE: f64 = 1e12;

/// Marks a non-finite number in a request body (see `mark_non_finite`).
pub const NON_FINITE: &str = "\u{0}non-finite:";

/// A user id: a string or an integer, echoed back as it came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum UserId {
    #[schema(example = "u000123")]
    Text(String),
    #[schema(example = 123)]
    Integer(i64),
}

/// A feature value: a number for a numeric input, a string for plan,
/// country and marketing_source; null (or leaving the name out) imputes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum FeatureValue {
    Number(f64),
    Text(String),
    /// null: the input is missing and imputed.
    Null,
}

/// One instance to score. (The server reads it by hand, so that it can name
/// every offending key at once; this type is its documented shape.)
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "u000123", "features": {"active_days_7d": 3, "days_since_last_activity": 2, "plan": "paid", "country": "IN"}}))]
pub struct PredictRequest {
    pub user_id: UserId,
    /// Feature name -> value; GET /model lists the names.
    pub features: BTreeMap<String, FeatureValue>,
}

/// Up to 10,000 instances; any invalid instance refuses the batch.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"instances": [{"user_id": "u000123", "features": {"active_days_7d": 3, "plan": "paid"}}, {"user_id": 42, "features": {"active_days_7d": 0}}]}))]
pub struct BatchRequest {
    pub instances: Vec<PredictRequest>,
}

/// Replaces bare `NaN`, `Infinity`, `-Infinity` and numbers too large for a
/// double (which JSON itself cannot carry, but many clients write) with a
/// marker string, so they can be refused as non-finite with the key named
/// rather than as malformed JSON.
pub fn mark_non_finite(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let (mut i, mut copied, mut in_string) = (0, 0, false);
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            // To the string's next quote or escape.
            match bytes[i..].iter().position(|&c| c == b'"' || c == b'\\') {
                None => break,
                Some(k) if bytes[i + k] == b'\\' => i += k + 2,
                Some(k) => {
                    in_string = false;
                    i += k + 1;
                }
            }
            continue;
        }
        let replace = match b {
            b'"' => {
                in_string = true;
                None
            }
            b'N' if bytes[i..].starts_with(b"NaN") => Some(i + 3),
            b'I' if bytes[i..].starts_with(b"Infinity") => Some(i + 8),
            b'-' if bytes[i..].starts_with(b"-Infinity") => Some(i + 9),
            b'-' | b'0'..=b'9' => {
                let end = i + bytes[i..]
                    .iter()
                    .position(|c| !matches!(c, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E'))
                    .unwrap_or(bytes.len() - i);
                let token = &bytes[i..end];
                // Only an exponent or more than 300 digits can overflow a
                // double: the numbers of an ordinary body are not parsed here.
                let plain = token.len() <= 300 && !token.iter().any(|c| matches!(c, b'e' | b'E'));
                let overflows = !plain && text[i..end].parse::<f64>().is_ok_and(|x| !x.is_finite());
                if !overflows {
                    i = end;
                    continue;
                }
                Some(end)
            }
            _ => None,
        };
        match replace {
            Some(end) => {
                let o = out.get_or_insert_with(|| String::with_capacity(text.len() + 32));
                o.push_str(&text[copied..i]);
                o.push('"');
                o.push_str(&NON_FINITE.replace('\u{0}', "\\u0000"));
                o.push_str(&text[i..end]);
                o.push('"');
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    match out {
        None => std::borrow::Cow::Borrowed(text),
        Some(mut o) => {
            o.push_str(&text[copied..]);
            std::borrow::Cow::Owned(o)
        }
    }
}

/// Whether a Content-Type header names JSON (`application/json`, with or
/// without parameters such as a charset).
fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads a body of at most `limit` bytes as UTF-8 text: a body that is not
/// declared JSON is refused (415), a larger declared length before reading
/// (413). A body the client stops sending is a 400, not a 413.
async fn read_text(request: Request, limit: usize) -> Result<String, ApiError> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap_or(""));
    if !is_json(content_type) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported media type",
            format!(
                "the body must be JSON with the header `Content-Type: application/json`; it was {}",
                content_type.map_or_else(|| "not given".to_string(), |t| format!("{t:?}"))
            ),
        ));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::too_large(format!(
            "the body is {} bytes; the limit is {limit} bytes",
            declared.unwrap_or_default()
        )));
    }
    let body: Body = request.into_body();
    let bytes: Bytes = axum::body::to_bytes(body, limit).await.map_err(|e| {
        let over_limit =
            std::error::Error::source(&e).is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
        if over_limit {
            ApiError::too_large(format!("the limit is {limit} bytes"))
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "body not received",
                format!("the body could not be read to its end: {e}"),
            )
        }
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|e| ApiError::malformed(format!("the body is not UTF-8: {e}")))
}

/// A JSON body of /predict: at most `MAX_BODY` bytes, non-finite numbers
/// marked.
pub struct JsonValue(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonValue {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let text = read_text(request, MAX_BODY).await?;
        serde_json::from_str(&mark_non_finite(&text))
            .map(JsonValue)
            .map_err(|e| ApiError::malformed(e.to_string()))
    }
}

/// The body of /predict/batch: at most `MAX_BATCH_BODY` bytes and
/// `MAX_BATCH` instances, parsed a stream of instances at a time.
pub struct BatchBody {
    pub instances: Vec<Value>,
    /// Keys beside "instances", refused by the handler.
    pub problems: Vec<Problem>,
}

const TOO_MANY: &str = "\u{0}too many instances";

struct Top<'a>(&'a mut BatchBody);

impl<'de> Visitor<'de> for Top<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object {\"instances\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let mut seen = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "instances" {
                map.next_value_seed(Instances(&mut self.0.instances))?;
                seen = true;
            } else {
                map.next_value::<IgnoredAny>()?;
                self.0.problems.push(Problem {
                    field: key,
                    problem: "unknown key; a batch has instances only".into(),
                });
            }
        }
        Ok(seen)
    }
}

struct Instances<'a>(&'a mut Vec<Value>);

impl<'de> DeserializeSeed<'de> for Instances<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Instances<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of instances")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(v) = seq.next_element::<Value>()? {
            if self.0.len() == MAX_BATCH {
                return Err(serde::de::Error::custom(TOO_MANY));
            }
            self.0.push(v);
        }
        Ok(())
    }
}

impl<S: Send + Sync> FromRequest<S> for BatchBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, _: &S) -> Result<Self, Self::Rejection> {
        let text = read_text(request, MAX_BATCH_BODY).await?;
        let marked = mark_non_finite(&text);
        let mut body = BatchBody {
            instances: Vec::new(),
            problems: Vec::new(),
        };
        let mut de = serde_json::Deserializer::from_str(&marked);
        let seen = match de.deserialize_map(Top(&mut body)) {
            Ok(seen) => seen,
            Err(e) if e.to_string().starts_with(TOO_MANY) => {
                return Err(ApiError::too_large(format!(
                    "more than {MAX_BATCH} instances; the limit is {MAX_BATCH} per request"
                )));
            }
            Err(e) if e.is_data() => false,
            Err(e) => return Err(ApiError::malformed(e.to_string())),
        };
        de.end().map_err(|e| ApiError::malformed(e.to_string()))?;
        if !seen {
            body.problems.push(Problem {
                field: "instances".into(),
                problem: "expected {\"instances\": [...]}".into(),
            });
        }
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_bodies_are_read() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/jsonl")));
        assert!(!is_json(Some("")));
        assert!(!is_json(None));
    }

    #[test]
    fn non_finite_numbers_become_markers_outside_strings_only() {
        let got =
            mark_non_finite(r#"{"a": NaN, "b": -Infinity, "c": 1e999, "d": "NaN", "e": 1.5, "f": "x\"NaN"}"#);
        let v: Value = serde_json::from_str(&got).unwrap();
        for key in ["a", "b", "c"] {
            assert!(v[key].as_str().unwrap().starts_with(NON_FINITE), "{key}: {got}");
        }
        assert_eq!(v["d"], "NaN");
        assert_eq!(v["e"], 1.5);
        assert_eq!(v["f"], "x\"NaN");
        assert!(matches!(
            mark_non_finite(r#"{"a": -1e3}"#),
            std::borrow::Cow::Borrowed(_)
        ));
        // A number too long for a double overflows without an exponent too;
        // one just short of it is left alone.
        let long = format!("{{\"a\": 1{}, \"b\": -{}}}", "0".repeat(400), "9".repeat(300));
        let v: Value = serde_json::from_str(&mark_non_finite(&long)).unwrap();
        assert!(v["a"].as_str().unwrap().starts_with(NON_FINITE), "{v}");
        assert!(v["b"].as_f64().unwrap().is_finite(), "{v}");
        // Invalid JSON stays invalid, without a panic on multi-byte text.
        assert!(serde_json::from_str::<Value>(&mark_non_finite("{\"a\": é NaN}")).is_err());
    }
}
