//! What people read: a failed rotation (and the cause the rotator sees), the daily check's
//! findings, a rotation finished after its database came back. Pure. Secret ids from an event
//! are checked before they get here; the sinks escape text.

use caretaker_shared::notify::{Notification, Severity as Level};

use crate::handler::check::Finding;

const LOG: &str = "/aws/lambda/caretaker-secret-rotator";

/// Secrets Manager's `RotationFailed`. `cause`: `None` when this stack does not manage the
/// secret; `Some(Ok(database))` when its database is up; `Some(Err(why))` when it is not (or the
/// rotator could not look).
pub(crate) fn rotation_failed(
    secret: &str,
    at: Option<&str>,
    cause: Option<&Result<String, String>>,
) -> Notification {
    let title = format!("Rotation of {} failed", short(secret));
    let base = |level| {
        let n = Notification::new(level, title.clone()).fact("Secret", secret);
        match at {
            Some(at) => n.fact("At", at),
            None => n,
        }
    };
    match cause {
        Some(Err(why)) => base(Level::Warning).fact("Cause", why).action(
            "Nothing to do if the database is only stopped for the night: Caretaker finishes the rotation within the hour after it is available. Otherwise start the database.",
        ),
        Some(Ok(database)) => base(Level::Critical)
            .fact("Database", format!("{database} is up, so the cause is elsewhere"))
            .action(format!(
                "Read the failed step in the rotator's log ({LOG}); the secret's AWSCURRENT still holds working credentials. Caretaker retries within the hour."
            )),
        None => base(Level::Critical)
            .fact("Managed by Caretaker", "no: nothing here resumes it")
            .action("Look at the rotation function named in the secret's rotation configuration and its log."),
    }
}

/// The daily check: one notice for every managed secret that needs attention.
pub(crate) fn check(findings: &[(String, Finding)]) -> Notification {
    let count = |f: fn(&Finding) -> bool| findings.iter().filter(|(_, x)| f(x)).count();
    let overdue = count(|f| matches!(f, Finding::Overdue { .. }));
    let waiting = count(|f| matches!(f, Finding::Waiting { .. }));
    let other = findings.len() - overdue - waiting;
    let mut parts = Vec::new();
    if overdue > 0 {
        parts.push(format!("{overdue} overdue"));
    }
    if waiting > 0 {
        parts.push(format!("{waiting} waiting for its database"));
    }
    if other > 0 {
        parts.push(format!("{other} not rotating"));
    }
    let level = if findings.iter().any(|(_, f)| f.needs_a_person()) {
        Level::Critical
    } else {
        Level::Warning
    };
    let noun = if findings.len() == 1 {
        "secret"
    } else {
        "secrets"
    };
    let mut n = Notification::new(
        level,
        format!(
            "{} {noun} need attention: {}",
            findings.len(),
            parts.join(", ")
        ),
    );
    for (secret, f) in findings {
        n = n.fact(short(secret), describe(f));
    }
    n.action(format!(
        "An overdue or failing secret: start its database if it is stopped, then `aws secretsmanager rotate-secret --secret-id <secret>`; each failed step is in {LOG}. A waiting one is finished within the hour after its database is available."
    ))
}

pub(crate) fn resumed(secret: &str) -> Notification {
    Notification::new(
        Level::Info,
        format!(
            "Rotation of {} finished after its database came back",
            short(secret)
        ),
    )
    .fact("Secret", secret)
}

fn describe(f: &Finding) -> String {
    match f {
        Finding::Overdue {
            age_days,
            every_days,
        } => format!(
            "overdue: its credentials are {age_days} days old; its rule rotates every {every_days} days"
        ),
        Finding::Waiting { database, status } => {
            format!("a rotation waits for {database} ({status})")
        }
        Finding::RotationOff => "rotation is not enabled".into(),
        Finding::ResumeFailed { error } => format!("finishing its rotation failed: {error}"),
        Finding::Unreadable { error } => format!("could not be read: {error}"),
        Finding::Resumed => "its rotation was finished now".into(),
    }
}

/// A secret's name from its ARN (`...:secret:innovate/dev/app-db-AbCdEf` → `innovate/dev/app-db`).
fn short(secret: &str) -> String {
    let name = secret.split_once(":secret:").map_or(secret, |(_, n)| n);
    let name = match name.rsplit_once('-') {
        Some((base, suffix)) if secret.starts_with("arn:") && suffix.len() == 6 => base,
        _ => name,
    };
    caretaker_shared::error::cap(name, 120)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:secretsmanager:us-east-1:222222222222:secret:innovate/dev/app-db-AbCdEf";

    #[test]
    fn a_failed_rotation_says_the_cause_and_what_happens_next() {
        let asleep = Err("database innovate-dev-db is stopped: ...".to_owned());
        let n = rotation_failed(ARN, Some("2026-10-06T14:12:03Z"), Some(&asleep));
        assert_eq!(n.title, "Rotation of innovate/dev/app-db failed");
        assert_eq!(n.severity, Level::Warning);
        assert!(n.text().contains("within the hour"), "{}", n.text());
        let up = Ok("database innovate-dev-db".to_owned());
        assert_eq!(
            rotation_failed(ARN, None, Some(&up)).severity,
            Level::Critical
        );
        let foreign = rotation_failed("other/secret", None, None);
        assert!(foreign.text().contains("nothing here resumes it"));
    }

    #[test]
    fn the_check_counts_and_names_each_secret() {
        let n = check(&[
            (
                ARN.into(),
                Finding::Overdue {
                    age_days: 120,
                    every_days: 90,
                },
            ),
            (
                "innovate/dev/other".into(),
                Finding::Waiting {
                    database: "database innovate-dev-db".into(),
                    status: "stopped".into(),
                },
            ),
        ]);
        assert_eq!(
            n.title,
            "2 secrets need attention: 1 overdue, 1 waiting for its database"
        );
        assert_eq!(n.severity, Level::Critical);
        let t = n.text();
        assert!(
            t.contains("innovate/dev/app-db: overdue: its credentials are 120 days old"),
            "{t}"
        );
        let only_waiting = check(&[(
            ARN.into(),
            Finding::Waiting {
                database: "d".into(),
                status: "starting".into(),
            },
        )]);
        assert_eq!(only_waiting.severity, Level::Warning);
    }
}
