//! Messages that arrive over SNS: AWS Budgets' plain-text notices and Cost Anomaly JSON, made
//! readable. Every message of a batch is understood before any is sent.

use caretaker_shared::error::BadInput;
use caretaker_shared::report::RunReport;
use serde_json::Value;

use super::sent;
use crate::error::GuardError;
use crate::{Deps, FUNCTION, domain, messages};

pub(crate) async fn messages(
    deps: &Deps,
    msgs: Vec<(Option<String>, String)>,
) -> Result<RunReport, GuardError> {
    // Decide every message first: one that is unrecognisable fails the whole batch, nothing sent.
    let mut notes = Vec::new();
    for (subject, text) in &msgs {
        if let Ok(json) = serde_json::from_str::<Value>(text) {
            let a = domain::parse_anomaly(&json).map_err(BadInput)?;
            let id = a.anomaly_id.clone().unwrap_or_default();
            notes.push(("anomaly", id, messages::anomaly(&a)));
            continue;
        }
        let looks_like_budgets = subject
            .as_deref()
            .is_some_and(|s| s.starts_with("AWS Budgets"))
            || text.contains("AWS Budget Notification");
        match domain::parse_budgets_notice(text) {
            Ok(notice) => notes.push((
                "budgets-notice",
                notice.budget_name.clone().unwrap_or_default(),
                messages::notice(&notice),
            )),
            // Tolerant: a wording we do not know still reaches people, as it came.
            Err(_) if looks_like_budgets => notes.push((
                "budgets-notice",
                "unparsed".into(),
                messages::unparsed_notice(subject.as_deref(), text),
            )),
            Err(e) => return Err(BadInput(format!("unrecognised SNS message: {e}")).into()),
        }
    }
    let mut report = RunReport::new(FUNCTION, "notice", false);
    for (kind, id, n) in notes {
        let delivery = deps.notifiers.send(&n).await;
        report.record(kind, &id, sent(&delivery));
    }
    Ok(report.finish())
}
