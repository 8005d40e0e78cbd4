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

/// dev-scheduler's word on what an account's nights saved, written to its memory table (key
/// [`savings_key`]) by each run that records a transition, and read by budget-guard's daily
/// digest. Amounts are USD with two decimals, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SavingsSummary {
    /// `2026-12`.
    pub month: String,
    pub month_usd: String,
    /// Resources whose price is unknown, left out of `month_usd`.
    #[serde(default)]
    pub unknown: usize,
    pub still_billing_per_day_usd: String,
    /// What keeps billing at night, grouped: ("NAT gateway", how many, USD a day or None).
    #[serde(default)]
    pub still_billing: Vec<(String, u32, Option<String>)>,
    /// The date of the prices used (the Price List's effective date).
    #[serde(default)]
    pub price_date: Option<String>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// The memory table key of an account's savings summary.
pub fn savings_key(account: &str) -> String {
    format!("dev-scheduler#savings#{account}")
}

impl SavingsSummary {
    /// The digest's line: "nights and weekends saved $61.20 this month; still billing at night:
    /// EKS control plane $2.40/day, 2 NAT gateways $2.16/day (on-demand prices of 2026-11-01)".
    pub fn line(&self) -> String {
        let mut s = format!("nights and weekends saved ${} this month", self.month_usd);
        if self.unknown > 0 {
            s.push_str(&format!(" ({} with no price, not counted)", self.unknown));
        }
        if !self.still_billing.is_empty() {
            let items: Vec<String> = self
                .still_billing
                .iter()
                .map(|(what, n, usd)| {
                    let what = if *n > 1 && !what.ends_with("storage") {
                        format!("{n} {what}s")
                    } else if *n > 1 {
                        format!("{n} × {what}")
                    } else {
                        what.clone()
                    };
                    match usd {
                        Some(usd) => format!("{what} ${usd}/day"),
                        None => format!("{what} (price unknown)"),
                    }
                })
                .collect();
            s.push_str(&format!("; still billing at night: {}", items.join(", ")));
        }
        if let Some(d) = &self.price_date {
            s.push_str(&format!(" (on-demand prices of {d})"));
        }
        s
    }
}

#[cfg(test)]
mod savings_tests {
    use super::*;

    #[test]
    fn the_digest_line_groups_what_still_bills() {
        let s = SavingsSummary {
            month: "2026-12".into(),
            month_usd: "61.20".into(),
            unknown: 0,
            still_billing_per_day_usd: "4.56".into(),
            still_billing: vec![
                ("EKS control plane".into(), 1, Some("2.40".into())),
                ("NAT gateway".into(), 2, Some("2.16".into())),
            ],
            price_date: Some("2026-11-01".into()),
            at: chrono::Utc::now(),
        };
        assert_eq!(
            s.line(),
            "nights and weekends saved $61.20 this month; still billing at night: EKS control plane $2.40/day, 2 NAT gateways $2.16/day (on-demand prices of 2026-11-01)"
        );
    }
}
