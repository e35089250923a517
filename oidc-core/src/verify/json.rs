//! Strict JSON for the JOSE header and the claims, as Envoy's jwt_verify_lib reads them
//! (protobuf's JSON parser into a `google.protobuf.Struct`): one object, no member named
//! twice in any object at any depth, at most [`MAX_DEPTH`] levels of nesting, UTF-8 only.
//!
//! A duplicate member is the classic parser differential: `{"sub":"alice","sub":"admin"}`
//! means `admin` to a last-wins parser (ours, without this check) and `alice` to a
//! first-wins one, so whoever reads the token after us could see another identity.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::TokenError;

/// The deepest nesting of objects and arrays accepted, the top-level object included
/// (protobuf's JSON parser default `recursion_depth`).
pub(crate) const MAX_DEPTH: usize = 100;

/// Why a document was refused, recorded by the visitor (serde errors carry only text).
#[derive(Debug, Clone)]
enum Problem {
    Duplicate(String),
    TooDeep,
}

/// Parses `bytes` as one JSON object; `what` (`header`, `payload`) names it in errors.
pub(crate) fn object(bytes: &[u8], what: &str) -> Result<Map<String, Value>, TokenError> {
    let problem = Cell::new(None);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = Strict {
        depth: 1,
        problem: &problem,
    }
    .deserialize(&mut deserializer)
    .and_then(|value| deserializer.end().map(|()| value));
    match (parsed, problem.take()) {
        (Ok(Value::Object(map)), _) => Ok(map),
        (Ok(_), _) => Err(TokenError::Malformed(format!(
            "{what} is not a JSON object"
        ))),
        (Err(_), Some(Problem::Duplicate(key))) => Err(TokenError::Malformed(format!(
            "{what} names {} twice",
            shown(&key)
        ))),
        (Err(_), Some(Problem::TooDeep)) => Err(TokenError::Malformed(format!(
            "{what} nests more than {MAX_DEPTH} levels"
        ))),
        (Err(_), None) => Err(TokenError::Malformed(format!("{what} is not valid JSON"))),
    }
}

/// A member name for an error message: quoted, and cut short when long (it is the
/// sender's text).
fn shown(key: &str) -> String {
    const MAX: usize = 64;
    if key.len() <= MAX {
        return format!("{key:?}");
    }
    let mut end = MAX;
    while !key.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}...", &key[..end])
}

/// Deserializes one JSON value, refusing duplicate members and deep nesting.
#[derive(Clone, Copy)]
struct Strict<'p> {
    depth: usize,
    problem: &'p Cell<Option<Problem>>,
}

impl Strict<'_> {
    fn nested<E: de::Error>(self) -> Result<Self, E> {
        if self.depth > MAX_DEPTH {
            self.problem.set(Some(Problem::TooDeep));
            return Err(E::custom("too deep"));
        }
        Ok(Strict {
            depth: self.depth + 1,
            problem: self.problem,
        })
    }
}

impl<'de> DeserializeSeed<'de> for Strict<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut list = Vec::new();
        while let Some(value) = seq.next_element_seed(inner)? {
            list.push(value);
        }
        Ok(Value::Array(list))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let inner = self.nested()?;
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                self.problem.set(Some(Problem::Duplicate(key)));
                return Err(de::Error::custom("duplicate member"));
            }
            let value = access.next_value_seed(inner)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        object(json.as_bytes(), "payload").unwrap_err().to_string()
    }

    #[test]
    fn objects_only_each_member_once_at_every_depth() {
        assert!(object(br#"{"a":1,"b":{"a":2},"c":[{"a":3}]}"#, "payload").is_ok());
        assert_eq!(
            err(r#"{"sub":"a","sub":"b"}"#),
            r#"malformed token: payload names "sub" twice"#
        );
        assert!(err(r#"{"x":[{"a":1,"a":1}]}"#).contains(r#"names "a" twice"#));
        assert!(err("[1]").contains("is not a JSON object"));
        assert!(err("null").contains("is not a JSON object"));
        assert!(err("{} x").contains("is not valid JSON"));
        assert!(err(r#"{"a":"\ud800"}"#).contains("is not valid JSON"));
        let long = "k".repeat(500);
        let e = err(&format!(r#"{{"{long}":1,"{long}":2}}"#));
        assert!(e.len() < 120, "{e}");
    }

    #[test]
    fn at_most_one_hundred_levels() {
        let nest = |n: usize| format!("{{\"d\":{}{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
        assert!(object(nest(MAX_DEPTH).as_bytes(), "payload").is_ok());
        assert_eq!(
            err(&nest(MAX_DEPTH + 1)),
            "malformed token: payload nests more than 100 levels"
        );
        // Far deeper than serde_json's own limit: still our answer, never a stack overflow.
        assert!(err(&nest(100_000)).contains("nests more than"));
    }
}
