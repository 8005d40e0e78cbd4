//! Messages that arrive over SNS: AWS Budgets' plain-text notices and Cost Anomaly JSON, made
//! readable. Every message of a batch is understood before any is sent. A notice that shows a
//! dev budget past its `shutdownAt` asks for the dev shutdown at once, whatever the hour.

use caretaker_shared::error::BadInput;
use caretaker_shared::report::RunReport;
use serde_json::Value;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{check, sent};
use crate::domain::DesiredBudget;
use crate::error::GuardError;
use crate::{Deps, FUNCTION, domain, messages};

pub(crate) async fn messages(
    deps: &Deps,
    msgs: Vec<(Option<String>, String)>,
    now: DateTime<Utc>,
) -> Result<RunReport, GuardError> {
    // Decide every message first: one that is unrecognisable fails the whole batch, nothing sent.
    let mut notes = Vec::new();
    let mut shutdowns = Vec::new();
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
            Ok(notice) => {
                shutdowns.extend(shutdown_asked(deps, &notice));
                notes.push((
                    "budgets-notice",
                    notice.budget_name.clone().unwrap_or_default(),
                    messages::notice(&notice),
                ));
            }
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
    // The overspend is seen now, whatever the hour: the shutdown is asked for now (once per
    // period; the daily check finds it claimed).
    for (d, reason) in shutdowns {
        let res = check::shutdown(
            deps,
            &d,
            reason,
            &domain::period(now.date_naive()),
            now,
            false,
        )
        .await;
        report
            .record("dev-shutdown", &format!("{}/{}", d.account, d.env), res)
            .in_account(&d.account);
    }
    Ok(report.finish())
}

/// The managed budget a notice shows past its `shutdownAt` (same basis, spend at or over the
/// level), and the reason to give.
fn shutdown_asked(deps: &Deps, notice: &domain::BudgetsNotice) -> Option<(DesiredBudget, String)> {
    let d = deps
        .config
        .budgets
        .iter()
        .find(|d| notice.budget_name.as_deref() == Some(d.name.as_str()))?;
    let at = d.shutdown_at?;
    let (amount, budgeted) = (notice.amount?, notice.budgeted?);
    (notice.basis == Some(at.basis) && domain::ratio(amount, budgeted) >= Decimal::from(at.percent))
        .then(|| {
            (
                d.clone(),
                messages::notice_shutdown_reason(d, at, amount, budgeted),
            )
        })
}
