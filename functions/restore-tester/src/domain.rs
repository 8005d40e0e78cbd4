//! Pure rules: the documented forms of every identifier before it names anything in AWS, the
//! names this function gives what it creates, expiry, and when a waiting phase is over.

use caretaker_shared::Tags;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::run::{SECRET_PREFIX, TAG_EXPIRES, TAG_MARK};

/// RDS identifiers: a letter first, letters, digits and single hyphens, at most 63 characters.
pub fn valid_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// A snapshot identifier: an RDS identifier, automated ones prefixed `rds:`.
pub fn valid_snapshot(s: &str) -> bool {
    valid_identifier(s.strip_prefix("rds:").unwrap_or(s))
}

/// A run id is the Step Functions execution name: 1–80 letters, digits, hyphens, underscores
/// (nothing that could climb out of the secret name it is part of).
pub fn valid_run_id(s: &str) -> bool {
    (1..=80).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `rt-<source>-<8 chars of the run id>`, within RDS's rules.
pub fn restore_identifier(source: &str, run_id: &str) -> String {
    let short: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(8)
        .collect::<String>()
        .to_lowercase();
    let mut base: String = source.chars().take(50).collect();
    while base.ends_with('-') {
        base.pop();
    }
    format!("rt-{base}-{short}")
}

/// The temporary secret of a run (the run id is checked by the event before it gets here).
pub fn secret_name(run_id: &str) -> String {
    format!("{SECRET_PREFIX}{run_id}")
}

/// A restore-test leftover past its expiry (anything without the mark never is).
pub fn expired(tags: &Tags, now: DateTime<Utc>) -> bool {
    tags.get(TAG_MARK).map(String::as_str) == Some("true")
        && tags
            .get(TAG_EXPIRES)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t.with_timezone(&Utc) < now)
}

/// What a poll waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Phase {
    /// The restored instance is available.
    Available,
    /// The new master password is applied (no pending password change).
    Credentials,
}

/// Is the wait of `phase` over, for an instance in `status` with or without a pending password?
pub fn ready(phase: Phase, status: &str, password_pending: bool) -> bool {
    let available = status == "available";
    match phase {
        Phase::Available => available,
        Phase::Credentials => available && !password_pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_identifiers_follow_rds_rules() {
        let id = restore_identifier("innovate-prod-db", "6f1c2a7e-90ab-4cde-8f00-1234567890ab");
        assert_eq!(id, "rt-innovate-prod-db-6f1c2a7e");
        assert!(valid_identifier(&id));
        let long = restore_identifier(&"a".repeat(63), "Run_ID!!");
        assert!(valid_identifier(&long) && long.len() <= 63, "{long}");
        assert!(
            !valid_identifier("1db")
                && !valid_identifier("a--b")
                && !valid_identifier("a-")
                && !valid_identifier("a_b")
        );
    }

    #[test]
    fn run_ids_cannot_name_other_secrets() {
        assert!(valid_run_id("quarterly-2026-q4_1"));
        for bad in ["../../*", "", "a/b", "a*", &"x".repeat(81)] {
            assert!(!valid_run_id(bad), "{bad}");
        }
    }

    #[test]
    fn credentials_wait_for_the_password_to_apply() {
        assert!(ready(Phase::Available, "available", true));
        assert!(!ready(Phase::Credentials, "available", true));
        assert!(ready(Phase::Credentials, "available", false));
        assert!(!ready(Phase::Available, "modifying", false));
    }
}
