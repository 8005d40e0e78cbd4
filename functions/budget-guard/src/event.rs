//! Payload → command: SNS records (AWS Budgets' text, Cost Anomaly JSON), the `aws.ce` anomaly
//! event, the daily schedule, or a manual `{"action", "dryRun"?}`. Anything else is bad input.

use caretaker_shared::error::{BadInput, cap_message, quote};
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Reconcile {
        dry_run: bool,
    },
    Check {
        dry_run: bool,
    },
    Digest {
        dry_run: bool,
        /// As of this time (a rehearsal of another day: which month's figures it reads).
        at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// The daily schedule: check thresholds, then send the digest.
    Daily,
    /// Messages from SNS (AWS Budgets text, Cost Anomaly JSON): (subject, message).
    Messages(Vec<(Option<String>, String)>),
    Anomaly(Value),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manual {
    action: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    at: Option<String>,
}

const EXPECTED: &str = "expected {\"action\": \"digest\" | \"check\" | \"daily\" | \"reconcile\", \"dryRun\"?, \"at\"? (digest only)}";

pub fn parse(v: Value) -> Result<Command, BadInput> {
    if !v.is_object() {
        return Err(BadInput(format!("not a JSON object; {EXPECTED}")));
    }
    if let Some(records) = v.get("Records") {
        return sns(records);
    }
    if let Some(dt) = v.get("detail-type").and_then(|d| d.as_str()) {
        return match (v.get("source").and_then(|s| s.as_str()), dt) {
            (Some("aws.ce"), "Anomaly Detected") => Ok(Command::Anomaly(v["detail"].clone())),
            (_, "Scheduled Event") => Ok(Command::Daily),
            (src, other) => Err(BadInput(format!(
                "unsupported event {} from {}",
                quote(other),
                src.map(quote).unwrap_or_else(|| "no source".into())
            ))),
        };
    }
    let m: Manual = serde_json::from_value(v)
        .map_err(|e| BadInput(format!("{}; {EXPECTED}", cap_message(&e.to_string()))))?;
    let at = match (&m.at, m.action.as_str()) {
        (None, _) => None,
        (Some(t), "digest") => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| BadInput(format!("\"at\" {} is not an RFC 3339 time", quote(t))))?
                .with_timezone(&chrono::Utc),
        ),
        (Some(_), other) => {
            return Err(BadInput(format!(
                "\"at\" is taken by digest only, not by {}",
                quote(other)
            )));
        }
    };
    match m.action.as_str() {
        "reconcile" => Ok(Command::Reconcile { dry_run: m.dry_run }),
        "check" => Ok(Command::Check { dry_run: m.dry_run }),
        "digest" => Ok(Command::Digest {
            dry_run: m.dry_run,
            at,
        }),
        "daily" => Ok(Command::Daily),
        other => Err(BadInput(format!(
            "unknown action {}: expected digest, check, daily or reconcile",
            quote(other)
        ))),
    }
}

/// An SNS envelope: at least one record, each with `Sns.Message`.
fn sns(records: &Value) -> Result<Command, BadInput> {
    let records = records
        .as_array()
        .ok_or_else(|| BadInput::new("\"Records\" is not a list of SNS records"))?;
    if records.is_empty() {
        return Err(BadInput::new(
            "an SNS envelope with no record: no message to read",
        ));
    }
    let mut msgs = Vec::with_capacity(records.len());
    for r in records {
        let sns = r
            .get("Sns")
            .ok_or_else(|| BadInput::new("SNS record without \"Sns\""))?;
        let message = sns
            .get("Message")
            .and_then(|m| m.as_str())
            .ok_or_else(|| BadInput::new("SNS record without Message"))?;
        msgs.push((
            sns.get("Subject")
                .and_then(|s| s.as_str())
                .map(str::to_owned),
            message.to_owned(),
        ));
    }
    Ok(Command::Messages(msgs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_empty_sns_envelope_or_an_array_is_bad_input() {
        for v in [
            json!({"Records": []}),
            json!({"Records": {}}),
            json!(["reconcile", true]),
            json!(null),
        ] {
            assert!(parse(v.clone()).is_err(), "{v}");
        }
    }

    #[test]
    fn a_long_action_is_quoted_short() {
        let err = parse(json!({"action": "x".repeat(2_000_000)})).unwrap_err();
        assert!(err.to_string().len() < 300, "{}", err.to_string().len());
    }
}
