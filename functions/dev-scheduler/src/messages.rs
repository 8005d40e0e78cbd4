//! What the team hears about a run: failures (the next run retries them, but someone may have
//! to act), corrected drift with its cause, and a shutdown budget-guard asked for. A routine
//! transition (the schedule's own change), and any dry run, says nothing. A failure is said when
//! it starts, at most daily while it lasts (`told` in the report) and once when it clears, never
//! every run. Pure: built from the run report.

use caretaker_shared::notify::{Notification, Severity};
use caretaker_shared::once::Cleared;

use crate::ready::MorningNews;
use caretaker_shared::report::{Outcome, RunReport};
use serde_json::Value;

/// At most this many resources are named per kind of news; the rest are counted.
const SHOWN: usize = 10;

pub(crate) fn notification(
    report: &RunReport,
    budget_account: Option<&str>,
    cleared: &[Cleared],
) -> Option<Notification> {
    if report.dry_run {
        return None;
    }
    let told = |r: &&caretaker_shared::report::ResourceResult| {
        r.details.get("told").and_then(Value::as_str) != Some("quiet")
    };
    let all_failed = report
        .resources
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .count();
    let failed: Vec<_> = report
        .resources
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed { .. }))
        .filter(told)
        .collect();
    let drift: Vec<_> = report
        .resources
        .iter()
        .filter(|r| r.details.get("drift") == Some(&Value::Bool(true)))
        .collect();
    if failed.is_empty() && drift.is_empty() && budget_account.is_none() && cleared.is_empty() {
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
            all_failed,
            report.resources.len()
        );
        (severity, title)
    } else if let Some(account) = budget_account {
        (
            Severity::Info,
            format!("dev-scheduler: dev ({account}) shut down as budget-guard asked"),
        )
    } else if !drift.is_empty() {
        (
            Severity::Info,
            format!(
                "dev-scheduler: {} resources found away from their schedule, put back",
                drift.len()
            ),
        )
    } else {
        (
            Severity::Info,
            format!("dev-scheduler: {} failures cleared", cleared.len()),
        )
    };
    let mut n = Notification::new(severity, title).fact("Summary", &report.summary);
    if budget_account.is_some() {
        n = n.fact(
            "Held down until",
            crate::domain::budget_period_end(report.started_at).to_rfc3339(),
        );
    }
    for r in failed.iter().take(SHOWN) {
        if let Outcome::Failed { error } = &r.outcome {
            let text = match (
                r.details.get("told").and_then(Value::as_str),
                r.details.get("failingSince").and_then(Value::as_str),
            ) {
                (Some("again"), Some(since)) => format!("{error} (still failing, since {since})"),
                _ => error.clone(),
            };
            n = n.fact(format!("✘ {} {}", r.kind, r.id), text);
        }
    }
    let quiet = all_failed - failed.len();
    if quiet > 0 {
        n = n.fact(
            "Still failing",
            format!("{quiet} more, said already (each again daily while it lasts)"),
        );
    }
    for c in cleared.iter().take(SHOWN) {
        n = n.fact(
            format!("✔ {}", c.key),
            format!(
                "works again (failing since {}: {})",
                c.failing.since.to_rfc3339(),
                c.failing.cause
            ),
        );
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
    let hidden = failed.len().saturating_sub(SHOWN)
        + drift.len().saturating_sub(SHOWN)
        + cleared.len().saturating_sub(SHOWN);
    if hidden > 0 {
        n = n.fact(
            "More",
            format!("{hidden} more in the run report (function logs)"),
        );
    }
    Some(n.action(if !failed.is_empty() || quiet > 0 {
        "Fix the cause named above; the next periodic run retries what failed."
    } else if budget_account.is_some() {
        "Dev stays down until the end of the budget period (shown above), whatever its schedules say. To bring it up now, invoke dev-scheduler with {\"action\": \"startup\"}; to keep one resource up, tag it caretaker/keep-up-until=<date>."
    } else {
        "Nothing, if expected. To keep a resource up on purpose, tag (or annotate) it caretaker/keep-up-until=<date or RFC 3339 time>."
    }))
}

/// The morning of one account: "dev ready at 07:00" with when each layer was, or, past the
/// deadline, a critical notice naming what is not ready and why. Times in `zone` (the account's
/// schedules').
pub(crate) fn morning(account: &str, news: &MorningNews, zone: chrono_tz::Tz) -> Notification {
    let local =
        |t: &chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).format("%H:%M %Z").to_string();
    match news {
        MorningNews::Ready {
            at,
            databases,
            nodes,
            workloads,
        } => Notification::new(
            Severity::Info,
            format!("dev ready at {} (account {account})", local(at)),
        )
        .fact("Databases", format!("ready by {}", local(databases)))
        .fact("Node groups", format!("ready by {}", local(nodes)))
        .fact("Workloads", format!("{workloads} up by {}", local(at)))
        .action("Nothing: dev is up."),
        MorningNews::Late {
            deadline,
            not_ready,
        } => {
            let mut n = Notification::new(
                Severity::Critical,
                format!(
                    "dev not ready at {} (account {account}): {} not up",
                    local(deadline),
                    not_ready.len()
                ),
            );
            for w in not_ready.iter().take(SHOWN) {
                let (what, why) = w.split_once(' ').unwrap_or((w.as_str(), ""));
                n = n.fact(format!("✘ {what}"), why);
            }
            if not_ready.len() > SHOWN {
                n = n.fact(
                    "More",
                    format!("{} more in the run report", not_ready.len() - SHOWN),
                );
            }
            n.action(
                "A start AWS accepted did not happen: look at each one named (an RDS start stuck \
                 in starting, storage full or a disabled KMS key; a node group's health issues; a \
                 workload waiting for them). The next runs keep trying.",
            )
        }
    }
}

/// An account found in an OU with no spoke role to assume: said once.
pub(crate) fn joined(account: &str, ous: &[String]) -> Notification {
    Notification::new(
        Severity::Warning,
        format!("Account {account} joined {} without a Caretaker spoke", ous.join(", ")),
    )
    .fact("Account", account)
    .fact("Found in", ous.join(", "))
    .action(
        "Deploy deploy/spoke.yaml in it (or let the StackSet of the README do it for every account of the OU); until then its dev resources are not scheduled. Caretaker says this once.",
    )
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
        assert_eq!(notification(&r.finish(), None, &[]), None);
    }

    #[test]
    fn drift_on_a_cluster_is_named_like_an_instance() {
        let mut r = report("reconcile", false);
        r.record("rds-cluster", "aurora-dev", Outcome::changed("stopped"))
            .detail("drift", true);
        let n = notification(&r.finish(), None, &[]).unwrap();
        assert!(n.title.contains("1 resources found away"), "{n:?}");
        assert!(n.facts.iter().any(|(k, _)| k == "↻ rds-cluster aurora-dev"));
    }

    #[test]
    fn a_failed_startup_is_critical_and_a_dry_run_is_silent() {
        let mut r = report("startup", false);
        r.record("rds-instance", "db", Outcome::failed("boom"));
        let n = notification(&r.clone().finish(), None, &[]).unwrap();
        assert_eq!(n.severity, Severity::Critical);
        let mut d = report("startup", true);
        d.record("rds-instance", "db", Outcome::failed("boom"));
        assert_eq!(notification(&d.finish(), None, &[]), None);
    }

    #[test]
    fn a_failure_said_already_is_not_said_again_and_a_cleared_one_is() {
        use caretaker_shared::once::Failing;
        use chrono::{TimeZone, Utc};
        let mut r = report("reconcile", false);
        r.record("account", "222222222222", Outcome::failed("denied"))
            .detail("told", "quiet");
        assert_eq!(notification(&r.clone().finish(), None, &[]), None);
        let since = Utc.with_ymd_and_hms(2026, 12, 1, 21, 0, 0).unwrap();
        let cleared = [Cleared {
            key: "rds-instance db".into(),
            failing: Failing {
                cause: "stop failed: denied".into(),
                since,
                told: since,
            },
        }];
        let mut ok = report("reconcile", false);
        ok.record("rds-instance", "db", Outcome::Unchanged);
        let n = notification(&ok.finish(), None, &cleared).unwrap();
        assert_eq!(n.severity, Severity::Info);
        assert!(n.title.contains("1 failures cleared"), "{n:?}");
        assert!(n.facts.iter().any(|(k, v)| k == "✔ rds-instance db"
            && v.contains("works again")
            && v.contains("stop failed: denied")));
        let mut again = report("reconcile", false);
        again
            .record("account", "222222222222", Outcome::failed("denied"))
            .detail("told", "again")
            .detail("failingSince", "2026-12-01T21:00:00+00:00");
        let n = notification(&again.finish(), None, &[]).unwrap();
        assert!(
            n.facts
                .iter()
                .any(|(_, v)| v.contains("still failing, since 2026-12-01T21:00:00+00:00"))
        );
    }

    #[test]
    fn a_late_morning_is_critical_and_names_what_and_why_in_the_teams_zone() {
        let news = MorningNews::Late {
            deadline: "2026-12-02T12:20:00Z".parse().unwrap(),
            not_ready: vec![
                "rds:innovate-dev-db starting".into(),
                "nodegroup:innovate-dev/addons DEGRADED".into(),
            ],
        };
        let n = morning("222222222222", &news, chrono_tz::America::New_York);
        assert_eq!(n.severity, Severity::Critical);
        assert!(
            n.title.contains("dev not ready at 07:20 EST") && n.title.contains("2 not up"),
            "{n:?}"
        );
        assert!(
            n.facts
                .iter()
                .any(|(k, v)| k == "✘ rds:innovate-dev-db" && v == "starting")
        );
        let ready = MorningNews::Ready {
            at: "2026-12-02T12:00:00Z".parse().unwrap(),
            databases: "2026-12-02T11:45:00Z".parse().unwrap(),
            nodes: "2026-12-02T11:45:00Z".parse().unwrap(),
            workloads: 14,
        };
        let n = morning("222222222222", &ready, chrono_tz::America::New_York);
        assert_eq!(n.severity, Severity::Info);
        assert!(n.title.starts_with("dev ready at 07:00 EST"), "{n:?}");
        assert!(
            n.facts
                .iter()
                .any(|(k, v)| k == "Workloads" && v == "14 up by 07:00 EST")
        );
    }
}
