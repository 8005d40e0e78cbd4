//! The events Caretaker's functions send each other, defined once: budget-guard writes the dev
//! shutdown request, dev-scheduler accepts it, and template.yaml's rule matches the same
//! `source` and `detail-type` (a test reads the template to prove it).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{BadInput, quote};
use crate::guard::is_account_id;

/// EventBridge `source` of budget-guard's events.
pub const SHUTDOWN_SOURCE: &str = "caretaker.budget-guard";
/// EventBridge `detail-type` of the dev shutdown request.
pub const SHUTDOWN_DETAIL_TYPE: &str = "Dev Shutdown Requested";
/// `detail.action` of the dev shutdown request.
pub const SHUTDOWN_ACTION: &str = "shutdown";

/// The `detail` of a dev shutdown request: take `account`'s dev estate down now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShutdownRequest {
    pub action: String,
    pub account: String,
    #[serde(default)]
    pub reason: String,
}

impl ShutdownRequest {
    pub fn new(account: &str, reason: &str) -> Self {
        ShutdownRequest {
            action: SHUTDOWN_ACTION.to_owned(),
            account: account.to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// `Ok(None)`: not a shutdown request at all. `Ok(Some(_))`: one from budget-guard, with
    /// action `shutdown` and a 12-digit account. Anything else that calls itself a shutdown
    /// request (another source, another action, a malformed account) is bad input.
    pub fn from_event(event: &Value) -> Result<Option<ShutdownRequest>, BadInput> {
        if event.get("detail-type").and_then(Value::as_str) != Some(SHUTDOWN_DETAIL_TYPE) {
            return Ok(None);
        }
        let bad = |what: String| BadInput(format!("shutdown request refused: {what}"));
        match event.get("source").and_then(Value::as_str) {
            Some(SHUTDOWN_SOURCE) => {}
            Some(other) => {
                return Err(bad(format!(
                    "source {} is not {SHUTDOWN_SOURCE}",
                    quote(other)
                )));
            }
            None => return Err(bad(format!("no source (expected {SHUTDOWN_SOURCE})"))),
        }
        let detail = event
            .get("detail")
            .filter(|d| d.is_object())
            .ok_or_else(|| bad("detail is not an object".into()))?;
        let req: ShutdownRequest = serde_json::from_value(detail.clone())
            .map_err(|_| bad("detail needs \"action\" and \"account\" strings".into()))?;
        if req.action != SHUTDOWN_ACTION {
            return Err(bad(format!(
                "detail.action {} is not {SHUTDOWN_ACTION:?}",
                quote(&req.action)
            )));
        }
        if !is_account_id(&req.account) {
            return Err(bad(format!(
                "detail.account {} is not a 12-digit account id",
                quote(&req.account)
            )));
        }
        Ok(Some(req))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(source: &str, detail: Value) -> Value {
        json!({"id": "e1", "source": source, "detail-type": SHUTDOWN_DETAIL_TYPE, "detail": detail})
    }

    #[test]
    fn budget_guards_request_is_accepted() {
        let req = ShutdownRequest::new("222222222222", "dev at 100%");
        let v = event(SHUTDOWN_SOURCE, serde_json::to_value(&req).unwrap());
        assert_eq!(ShutdownRequest::from_event(&v).unwrap(), Some(req));
    }

    #[test]
    fn other_events_are_not_shutdown_requests() {
        let v = json!({"source": "aws.events", "detail-type": "Scheduled Event"});
        assert_eq!(ShutdownRequest::from_event(&v).unwrap(), None);
    }

    #[test]
    fn wrong_source_action_or_account_is_refused() {
        let ok = json!({"action": "shutdown", "account": "222222222222"});
        for (source, detail, needle) in [
            ("evil.corp", ok.clone(), "source"),
            (
                SHUTDOWN_SOURCE,
                json!({"action": "startup", "account": "222222222222"}),
                "action",
            ),
            (
                SHUTDOWN_SOURCE,
                json!({"action": "shutdown", "account": "2222"}),
                "account",
            ),
            (SHUTDOWN_SOURCE, json!({"action": "shutdown"}), "account"),
            (SHUTDOWN_SOURCE, json!(["shutdown"]), "object"),
        ] {
            let err = ShutdownRequest::from_event(&event(source, detail)).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
        }
    }
}
