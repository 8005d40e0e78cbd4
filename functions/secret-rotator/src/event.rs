//! What can invoke the rotator, checked: Secrets Manager's step event (`Step`, `SecretId`,
//! `ClientRequestToken` and, for newer rotations, `RotationToken`), the schedules' `resume` and
//! `check`, and Secrets Manager's `RotationFailed` event from EventBridge.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use caretaker_shared::error::{BadInput, cap_message, quote};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The event Secrets Manager sends.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RotationEvent {
    pub step: String,
    pub secret_id: String,
    pub client_request_token: String,
    /// Newer rotations pass a token that `PutSecretValue` must echo.
    #[serde(default)]
    pub rotation_token: Option<String>,
}

impl RotationEvent {
    pub fn parse(v: serde_json::Value) -> Result<Self, BadInput> {
        if !v.is_object() {
            return Err(BadInput::new(
                "not a JSON object (expected Step, SecretId and ClientRequestToken)",
            ));
        }
        let ev: RotationEvent = serde_json::from_value(v).map_err(|e| {
            BadInput(format!(
                "malformed rotation event: {} (expected Step, SecretId and ClientRequestToken)",
                cap_message(&e.to_string())
            ))
        })?;
        for (name, value) in [
            ("SecretId", &ev.secret_id),
            ("ClientRequestToken", &ev.client_request_token),
        ] {
            if value.trim().is_empty() {
                return Err(BadInput(format!(
                    "malformed rotation event: {name} is empty"
                )));
            }
            if value.len() > 2048 {
                return Err(BadInput(format!(
                    "malformed rotation event: {name} is longer than 2048 characters"
                )));
            }
        }
        Ok(ev)
    }
}

/// What can invoke the rotator.
#[derive(Debug, Clone)]
pub enum Command {
    /// Secrets Manager runs one step of a rotation.
    Step(RotationEvent),
    /// The hourly run: finish every managed secret's unfinished rotation whose database is back.
    Resume {
        dry_run: bool,
        at: Option<DateTime<Utc>>,
    },
    /// The daily run: resume, then report every managed secret that is overdue, not rotated at
    /// all, or waiting for its database.
    Check {
        dry_run: bool,
        at: Option<DateTime<Utc>>,
    },
    /// Secrets Manager reported a failed rotation (EventBridge, via CloudTrail).
    RotationFailed {
        secret_id: String,
        at: Option<String>,
    },
}

/// `{"action": "resume" | "check", "dryRun"?, "at"?}`, as the schedules (or a person) send it;
/// `at` runs it as of that time (a rehearsal of a later hour), never earlier than now.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Manual {
    action: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    at: Option<DateTime<Utc>>,
}

/// The part of a CloudTrail service event the rotator reads.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
struct ServiceEvent {
    event_name: Option<String>,
    event_time: Option<String>,
    additional_event_data: Option<serde_json::Map<String, serde_json::Value>>,
}

pub const SOURCE: &str = "aws.secretsmanager";
pub const DETAIL_TYPE: &str = "AWS Service Event via CloudTrail";

impl Command {
    pub fn parse(v: serde_json::Value) -> Result<Command, BadInput> {
        let Some(obj) = v.as_object() else {
            return Err(BadInput::new(
                "not a JSON object (expected a rotation step, {\"action\": \"resume\" | \"check\"} or a RotationFailed event)",
            ));
        };
        if obj.contains_key("Step") {
            return RotationEvent::parse(v).map(Command::Step);
        }
        if obj.contains_key("detail-type") || obj.contains_key("source") {
            return rotation_failed(v);
        }
        let manual: Manual = serde_json::from_value(v).map_err(|e| {
            BadInput(format!(
                "malformed command: {} (expected {{\"action\": \"resume\" | \"check\", \"dryRun\"?, \"at\"?}})",
                cap_message(&e.to_string())
            ))
        })?;
        match manual.action.as_str() {
            "resume" => Ok(Command::Resume {
                dry_run: manual.dry_run,
                at: manual.at,
            }),
            "check" => Ok(Command::Check {
                dry_run: manual.dry_run,
                at: manual.at,
            }),
            other => Err(BadInput(format!(
                "unknown action {}: expected resume or check",
                quote(other)
            ))),
        }
    }
}

fn rotation_failed(v: serde_json::Value) -> Result<Command, BadInput> {
    let ev: EventBridgeEvent<ServiceEvent> = serde_json::from_value(v).map_err(|e| {
        BadInput(format!(
            "malformed EventBridge event: {}",
            cap_message(&e.to_string())
        ))
    })?;
    if ev.source != SOURCE || ev.detail_type != DETAIL_TYPE {
        return Err(BadInput(format!(
            "unexpected event {} / {}: expected {SOURCE} / {DETAIL_TYPE}",
            quote(&ev.source),
            quote(&ev.detail_type)
        )));
    }
    let detail = ev.detail;
    if detail.event_name.as_deref() != Some("RotationFailed") {
        return Err(BadInput(format!(
            "unexpected eventName {}: expected RotationFailed",
            quote(detail.event_name.as_deref().unwrap_or(""))
        )));
    }
    let secret_id = detail
        .additional_event_data
        .as_ref()
        .and_then(|d| d.get("SecretId"))
        .and_then(|s| s.as_str())
        .ok_or_else(|| {
            BadInput::new("RotationFailed event without detail.additionalEventData.SecretId")
        })?;
    if !crate::domain::valid_secret_id(secret_id) {
        return Err(BadInput(format!(
            "SecretId {} is not a secret ARN or name",
            quote(secret_id)
        )));
    }
    let at = detail
        .event_time
        .or(ev.time.map(|t| t.to_rfc3339()))
        .filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok());
    Ok(Command::RotationFailed {
        secret_id: secret_id.to_owned(),
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(secret: &str) -> serde_json::Value {
        serde_json::json!({
            "version": "0", "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": DETAIL_TYPE, "source": SOURCE, "account": "222222222222",
            "time": "2026-10-06T14:12:03Z", "region": "us-east-1", "resources": [],
            "detail": {
                "eventVersion": "1.08", "eventTime": "2026-10-06T14:12:03Z",
                "eventSource": "secretsmanager.amazonaws.com", "eventName": "RotationFailed",
                "additionalEventData": {"SecretId": secret}
            }
        })
    }

    #[test]
    fn commands_parse_and_bad_ones_say_why() {
        let arn = "arn:aws:secretsmanager:us-east-1:222222222222:secret:innovate/dev/app-db-AbCdEf";
        assert!(matches!(
            Command::parse(failed(arn)).unwrap(),
            Command::RotationFailed { secret_id, at: Some(_) } if secret_id == arn
        ));
        assert!(matches!(
            Command::parse(serde_json::json!({"action": "check", "dryRun": true})).unwrap(),
            Command::Check {
                dry_run: true,
                at: None
            }
        ));
        assert!(matches!(
            Command::parse(serde_json::json!({"action": "resume", "at": "2026-10-06T15:00:00Z"}))
                .unwrap(),
            Command::Resume { at: Some(_), .. }
        ));
        for (bad, says) in [
            (failed("x;rm -rf"), "SecretId"),
            (serde_json::json!({"action": "rotate"}), "unknown action"),
            (serde_json::json!({"action": "check", "force": 1}), "force"),
            (serde_json::json!([1]), "not a JSON object"),
        ] {
            let err = Command::parse(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{err}");
        }
        let mut other = failed(arn);
        other["detail"]["eventName"] = "RotationSucceeded".into();
        assert!(
            Command::parse(other)
                .unwrap_err()
                .to_string()
                .contains("RotationFailed")
        );
    }
}
