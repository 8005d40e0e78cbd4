//! The payload as the Lambda runtime hands it over, in a form that cannot fail to deserialise:
//! the runtime parses the body before any handler runs, and a body that is not JSON (or nests
//! deeper than serde_json's limit of 128) would otherwise fail there with the runtime's own Rust
//! type name as `errorType`. Here the failure is kept, and the handler turns it into
//! `InvalidInput` with a short message, inside its invocation (logged, correlated, counted).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::error::{BadInput, cap_message};

#[derive(Debug, Clone, PartialEq)]
pub struct Incoming(Result<Value, String>);

impl<'de> Deserialize<'de> for Incoming {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Never an error: whatever went wrong is kept for the handler to report.
        Ok(Incoming(
            Value::deserialize(d).map_err(|e| cap_message(&e.to_string())),
        ))
    }
}

impl From<Value> for Incoming {
    fn from(v: Value) -> Self {
        Incoming(Ok(v))
    }
}

impl Incoming {
    /// The JSON value, if the body was JSON.
    pub fn value(&self) -> Option<&Value> {
        self.0.as_ref().ok()
    }

    /// The JSON value, or bad input saying why the body was not JSON.
    pub fn into_value(self) -> Result<Value, BadInput> {
        self.0
            .map_err(|e| BadInput(format!("the payload is not a JSON document: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_json_or_nests_too_deep_is_kept_as_bad_input() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        for body in ["not json", "{\"action\":", deep.as_str()] {
            // As the runtime reads a body: one value from the start, nothing after it checked.
            let got = Incoming::deserialize(&mut serde_json::Deserializer::from_str(body)).unwrap();
            let err = got.into_value().unwrap_err().to_string();
            assert!(
                err.starts_with("malformed input: the payload is not"),
                "{err}"
            );
            assert!(err.len() < 1024);
        }
        let ok: Incoming = serde_json::from_str("{\"action\":\"status\"}").unwrap();
        assert_eq!(ok.value().unwrap()["action"], "status");
    }
}
