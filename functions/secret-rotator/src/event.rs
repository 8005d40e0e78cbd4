//! The event Secrets Manager sends, checked: `Step`, `SecretId`, `ClientRequestToken` (and,
//! for newer rotations, `RotationToken`).

use caretaker_shared::error::{BadInput, cap_message};
use serde::Deserialize;

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
