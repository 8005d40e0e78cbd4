//! What people read about a decision: promoted, blocked (with the findings that block), or
//! "could not decide". Pure; CVE ids, package names and versions are text from the scan and go
//! in as plain text (the sinks escape it).

use caretaker_shared::notify::{Notification, Severity as Level};

use crate::domain::Decision;

fn counts_line(d: &Decision) -> String {
    if d.counts.is_empty() {
        return "none".into();
    }
    d.counts
        .iter()
        .map(|(k, v)| format!("{v} {}", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn waiver_facts(mut n: Notification, d: &Decision) -> Notification {
    if !d.expired_waivers.is_empty() {
        n = n.fact("Expired waivers", d.expired_waivers.join("; "));
    }
    if !d.stale_waivers.is_empty() {
        n = n.fact("Stale waivers", d.stale_waivers.join("; "));
    }
    n
}

pub(crate) fn promoted_note(
    image: &str,
    target: &str,
    digest: &str,
    policy: &str,
    d: &Decision,
) -> Notification {
    let n = Notification::new(Level::Info, format!("Promoted {image} to {target}"))
        .fact("Digest", digest)
        .fact("Policy", policy)
        .fact("Findings", counts_line(d));
    let n = if d.waived.is_empty() {
        n
    } else {
        n.fact("Waived", d.waived.join("; "))
    };
    waiver_facts(n, d)
}

pub(crate) fn blocked_note(image: &str, digest: &str, policy: &str, d: &Decision) -> Notification {
    let mut n = Notification::new(
        Level::Warning,
        format!("Blocked {image}: not promoted to production"),
    )
    .fact("Why", d.reasons.join("; "))
    .fact("Digest", digest)
    .fact("Policy", policy)
    .fact("Findings", counts_line(d));
    for f in d.blocking.iter().take(5) {
        n = n.fact(
            f.id.clone(),
            format!(
                "{} in {} {} ({})",
                f.severity.as_str(),
                f.package.as_deref().unwrap_or("?"),
                f.installed.as_deref().unwrap_or("?"),
                f.fixed.as_deref().map_or_else(
                    || "no fixed version known".to_owned(),
                    |v| format!("fixed in {v}")
                )
            ),
        );
    }
    waiver_facts(n, d).action("Upgrade the packages above and push a new build, or add a waiver with a reason and an expiry date to the policy.")
}

pub(crate) fn error_note(image: &str, digest: &str, error: &str) -> Notification {
    Notification::new(
        Level::Critical,
        format!("Could not decide {image}: not promoted"),
    )
    .fact("Digest", digest)
    .fact("Error", error)
    .action(
        "Fix the cause, then re-evaluate: invoke image-promoter with {\"repository\", \"digest\"}.",
    )
}
