//! What the team hears about a run: failures (the next run retries them, but someone may have
//! to act), corrected drift with its cause, and a shutdown budget-guard asked for. A routine
//! transition (the schedule's own change), and any dry run, says nothing. Pure: built from the
//! run report.

use caretaker_shared::notify::{Notification, Severity};
use caretaker_shared::report::{Outcome, RunReport};
use serde_json::Value;

/// At most this many resources are named per kind of news; the rest are counted.
const SHOWN: usize = 10;

pub(crate) fn notification(
    report: &RunReport,
    budget_account: Option<&str>,
) -> Option<Notification> {
    if report.dry_run {
        return None;
    }
    let failed: Vec<_> = report
        .resources
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .collect();
    let drift: Vec<_> = report
        .resources
        .iter()
        .filter(|r| r.details.get("drift") == Some(&Value::Bool(true)))
        .collect();
    if failed.is_empty() && drift.is_empty() && budget_account.is_none() {
        return None;
    }
    let action = report.action.as_str();
    let (severity, title) = if !failed.is_empty() {
        let severity = if action == "startup" {
            Severity::Critical
        } else {
            Severity::Warning
        };
        let title = format!(
            "dev-scheduler {action}: {} of {} resources failed",
            failed.len(),
            report.resources.len()
        );
        (severity, title)
    } else if let Some(account) = budget_account {
        (
            Severity::Info,
            format!("dev-scheduler: dev ({account}) shut down as budget-guard asked"),
        )
    } else {
        (
            Severity::Info,
            format!(
                "dev-scheduler: {} resources found away from their schedule, put back",
                drift.len()
            ),
        )
    };
    let mut n = Notification::new(severity, title).fact("Summary", &report.summary);
    for r in failed.iter().take(SHOWN) {
        if let Outcome::Failed { error } = &r.outcome {
            n = n.fact(format!("✘ {} {}", r.kind, r.id), error);
        }
    }
    for r in drift.iter().take(SHOWN) {
        if let Outcome::Changed { action } = &r.outcome {
            let text = match r.details.get("cause").and_then(Value::as_str) {
                Some(cause) => format!("{action}; cause: {cause}"),
                None => action.clone(),
            };
            n = n.fact(format!("↻ {} {}", r.kind, r.id), text);
        }
    }
    let hidden = failed.len().saturating_sub(SHOWN) + drift.len().saturating_sub(SHOWN);
    if hidden > 0 {
        n = n.fact(
            "More",
            format!("{hidden} more in the run report (function logs)"),
        );
    }
    Some(n.action(if !failed.is_empty() {
        "Fix the cause named above; the next periodic run retries what failed."
    } else if budget_account.is_some() {
        "Nothing, if dev can wait: each resource comes back at its next scheduled start. To bring dev up now, invoke dev-scheduler with {\"action\": \"startup\"}."
    } else {
        "Nothing, if expected. To keep a resource up on purpose, tag (or annotate) it caretaker/keep-up-until=<date or RFC 3339 time>."
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(action: &str, dry_run: bool) -> RunReport {
        RunReport::new("dev-scheduler", action, dry_run)
    }

    #[test]
    fn a_routine_night_says_nothing() {
        let mut r = report("shutdown", false);
        r.record("rds-instance", "db", Outcome::changed("stopped"));
        assert_eq!(notification(&r.finish(), None), None);
    }

    #[test]
    fn drift_on_a_cluster_is_named_like_an_instance() {
        let mut r = report("reconcile", false);
        r.record("rds-cluster", "aurora-dev", Outcome::changed("stopped"))
            .detail("drift", true);
        let n = notification(&r.finish(), None).unwrap();
        assert!(n.title.contains("1 resources found away"), "{n:?}");
        assert!(n.facts.iter().any(|(k, _)| k == "↻ rds-cluster aurora-dev"));
    }

    #[test]
    fn a_failed_startup_is_critical_and_a_dry_run_is_silent() {
        let mut r = report("startup", false);
        r.record("rds-instance", "db", Outcome::failed("boom"));
        let n = notification(&r.clone().finish(), None).unwrap();
        assert_eq!(n.severity, Severity::Critical);
        let mut d = report("startup", true);
        d.record("rds-instance", "db", Outcome::failed("boom"));
        assert_eq!(notification(&d.finish(), None), None);
    }
}
