//! Payload → validated request: a manual or scheduled `{"action", "dryRun"?, "at"?, "account"?}`,
//! the fan-out state machine's `{"action": "accounts"}`, `{"action": "reconcile", "account",
//! "fanOut": true}` and `{"action": "summarize", "reports"}`, or
//! budget-guard's dev shutdown request (checked against the shared contract: source, action and
//! a 12-digit account, else refused before anything is read or sent).

use caretaker_shared::contract::ShutdownRequest;
use caretaker_shared::error::{BadInput, quote};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::domain::Action;

#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub action: Action,
    pub dry_run: bool,
    pub at: Option<DateTime<Utc>>,
    /// Only this account (a shutdown request from budget-guard names one).
    pub account: Option<String>,
    /// budget-guard's reason, when this is its shutdown request: dev is then held down until
    /// the budget period ends or a person lifts it.
    pub budget_reason: Option<String>,
    /// One account's run inside the fan-out (`"fanOut": true`): a compact report, and the
    /// failures left for the summary's one notification.
    pub fan_out: bool,
    /// `summarize`: the per-account reports the fan-out collected.
    pub reports: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Payload {
    action: String,
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    at: Option<String>,
    #[serde(default)]
    account: Option<String>,
    #[serde(default)]
    fan_out: bool,
    #[serde(default)]
    reports: Vec<Value>,
}

pub fn parse(v: Value) -> Result<Request, BadInput> {
    if let Some(req) = ShutdownRequest::from_event(&v)? {
        let reason = match req.reason.trim() {
            "" => "over its budget".to_owned(),
            r => caretaker_shared::error::cap(r, 300),
        };
        return Ok(Request {
            action: Action::Shutdown,
            dry_run: false,
            at: None,
            account: Some(req.account),
            budget_reason: Some(reason),
            fan_out: false,
            reports: Vec::new(),
        });
    }
    if !v.is_object() {
        return Err(BadInput::new(
            "expected a JSON object {\"action\", \"dryRun\"?, \"at\"?}",
        ));
    }
    let p: Payload = serde_json::from_value(v).map_err(|e| {
        BadInput(format!(
            "{}; expected {{\"action\", \"dryRun\"?, \"at\"?}}",
            caretaker_shared::error::cap_message(&e.to_string())
        ))
    })?;
    let at = match p.at {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(&t)
                .map_err(|_| BadInput(format!("\"at\" {} is not an RFC 3339 time", quote(&t))))?
                .with_timezone(&Utc),
        ),
    };
    if let Some(a) = &p.account
        && !caretaker_shared::guard::is_account_id(a)
    {
        return Err(BadInput(format!(
            "\"account\" {} is not a 12-digit account id",
            quote(a)
        )));
    }
    let action = Action::parse(&p.action).map_err(BadInput)?;
    // The state machine's reports are bounded by Step Functions' 256 KB; a summary of more is
    // refused rather than read.
    if p.reports.len() > 5_000 {
        return Err(BadInput::new("\"reports\" holds more than 5000 reports"));
    }
    Ok(Request {
        action,
        dry_run: p.dry_run,
        at,
        account: p.account,
        budget_reason: None,
        fan_out: p.fan_out,
        reports: p.reports,
    })
}
