//! What people read about a restore test: one notification per run, passed or failed, with the
//! evidence's figures. Pure.

use caretaker_shared::notify::{Notification, Severity};

use crate::run::Evidence;

/// `evidence_at`: where the evidence was written (`s3://bucket/key`), or why it could not be.
pub(crate) fn notification(ev: &Evidence, evidence_at: Option<&str>) -> Notification {
    let (sev, verb) = if ev.passed {
        (Severity::Info, "passed")
    } else {
        (Severity::Critical, "FAILED")
    };
    let mut n = Notification::new(
        sev,
        format!("Restore test of {} {verb}", ev.source_instance),
    )
    .fact("Result", &ev.summary)
    .fact(
        "Snapshot",
        format!(
            "{} ({})",
            ev.snapshot_id.as_deref().unwrap_or("?"),
            ev.snapshot_time.map(|t| t.to_rfc3339()).unwrap_or_default()
        ),
    );
    if let Some(rto) = ev.rto_minutes {
        n = n.fact(
            "RTO",
            format!("{rto:.1} min (target {} min)", ev.rto_target_minutes),
        );
    }
    for c in &ev.checks {
        n = n.fact(
            format!("{} {}", if c.passed { "✔" } else { "✘" }, c.name),
            &c.detail,
        );
    }
    n = n.fact(
        "Cleaned up",
        if ev.cleaned_up {
            "yes"
        } else {
            "NO (the sweeper will retry)"
        },
    );
    if let Some(at) = evidence_at {
        n = n.fact("Evidence", at);
    }
    if ev.passed {
        n
    } else {
        n.action("Read the evidence, fix the cause (backups, checks, permissions), and run the test again by hand.")
    }
}
