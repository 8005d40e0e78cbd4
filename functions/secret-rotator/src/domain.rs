//! Pure rules of the rotation protocol: which step, whether to act on this version, which user
//! is next, and how names and values are quoted into SQL.

use std::collections::HashMap;

use crate::error::RotatorError;

pub const CURRENT: &str = "AWSCURRENT";
pub const PENDING: &str = "AWSPENDING";
pub const PREVIOUS: &str = "AWSPREVIOUS";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Create,
    Set,
    Test,
    Finish,
}

impl Step {
    pub fn parse(s: &str) -> Result<Self, RotatorError> {
        match s {
            "createSecret" => Ok(Step::Create),
            "setSecret" => Ok(Step::Set),
            "testSecret" => Ok(Step::Test),
            "finishSecret" => Ok(Step::Finish),
            other => Err(caretaker_shared::BadInput(format!(
                "malformed rotation event: unknown Step {}: expected createSecret, setSecret, testSecret or finishSecret",
                caretaker_shared::error::quote(other)
            ))
            .into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Create => "createSecret",
            Step::Set => "setSecret",
            Step::Test => "testSecret",
            Step::Finish => "finishSecret",
        }
    }
}

/// What to do with a step, decided from the secret's metadata exactly as the reference does.
#[derive(Debug, PartialEq, Eq)]
pub enum Gate {
    /// The token's version is AWSPENDING: run the step.
    Proceed,
    /// The token's version is already AWSCURRENT: the rotation is done, nothing to do.
    AlreadyCurrent,
}

pub fn gate(
    secret: &str,
    rotation_enabled: Option<bool>,
    versions: &HashMap<String, Vec<String>>,
    token: &str,
) -> Result<Gate, RotatorError> {
    if rotation_enabled == Some(false) {
        return Err(RotatorError::RotationDisabled {
            secret: secret.to_owned(),
        });
    }
    let Some(stages) = versions.get(token) else {
        return Err(RotatorError::UnknownVersion {
            secret: secret.to_owned(),
            token: token.to_owned(),
        });
    };
    if stages.iter().any(|s| s == CURRENT) {
        return Ok(Gate::AlreadyCurrent);
    }
    if !stages.iter().any(|s| s == PENDING) {
        return Err(RotatorError::NotPending {
            secret: secret.to_owned(),
            token: token.to_owned(),
        });
    }
    Ok(Gate::Proceed)
}

/// The version currently holding AWSCURRENT.
pub fn current_version(versions: &HashMap<String, Vec<String>>) -> Option<&str> {
    versions
        .iter()
        .find(|(_, stages)| stages.iter().any(|s| s == CURRENT))
        .map(|(v, _)| v.as_str())
}

pub const CLONE_SUFFIX: &str = "_clone";

/// Alternating users: `app` ↔ `app_clone`. PostgreSQL names are at most 63 bytes.
pub fn alternate_username(current: &str) -> Result<String, RotatorError> {
    if let Some(base) = current.strip_suffix(CLONE_SUFFIX) {
        return Ok(base.to_owned());
    }
    let clone = format!("{current}{CLONE_SUFFIX}");
    if clone.len() > 63 {
        return Err(RotatorError::Mismatch(format!(
            "cannot clone user {current}: with {CLONE_SUFFIX} appended it exceeds PostgreSQL's 63 bytes"
        )));
    }
    Ok(clone)
}

/// The original of the pair (`app` for both `app` and `app_clone`).
pub fn base_username(name: &str) -> &str {
    name.strip_suffix(CLONE_SUFFIX).unwrap_or(name)
}

pub use caretaker_shared::pg::{quote_ident, quote_literal};

/// An RDS identifier: 1-63 letters, digits and hyphens, starting with a letter, no `--`, not
/// ending with `-` (the rule of `CreateDBInstance` and `CreateDBCluster`).
pub fn valid_db_identifier(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.ends_with('-')
        && !s.contains("--")
}

/// A secret id as Secrets Manager accepts it: an ARN
/// (`arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`) or a name (1-512 of
/// letters, digits and `/_+=.@-`).
pub fn valid_secret_id(s: &str) -> bool {
    let name_ok = |n: &str| {
        (1..=512).contains(&n.len())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c))
    };
    if let Some(rest) = s.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(6, ':').collect();
        return parts.len() == 6
            && parts[0].starts_with("aws")
            && parts[1] == "secretsmanager"
            && !parts[2].is_empty()
            && caretaker_shared::guard::is_account_id(parts[3])
            && parts[4] == "secret"
            && name_ok(parts[5]);
    }
    name_ok(s)
}

/// Whether two ids name the same secret: equal, or an ARN and the name it ends with (an ARN
/// ends `:secret:<name>-<6 random characters>`).
pub fn same_secret(a: &str, b: &str) -> bool {
    let name = |s: &str| -> Option<String> {
        let (_, n) = s.split_once(":secret:")?;
        let (base, suffix) = n.rsplit_once('-')?;
        (suffix.len() == 6).then(|| base.to_owned())
    };
    a == b || name(a).as_deref() == Some(b) || name(b).as_deref() == Some(a)
}

/// The database a secret's credentials log in to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Instance(String),
    Cluster(String),
}

impl Database {
    /// From an RDS endpoint: `<id>.<hash>.<region>.rds.amazonaws.com` (an instance) or
    /// `<id>.cluster-[ro-]<hash>.<region>.rds.amazonaws.com` (an Aurora cluster).
    pub fn from_endpoint(host: &str) -> Option<Database> {
        let host = host.to_ascii_lowercase();
        let rest = host
            .strip_suffix(".rds.amazonaws.com")
            .or_else(|| host.strip_suffix(".rds.amazonaws.com.cn"))?;
        let mut labels = rest.split('.');
        let (id, second) = (labels.next()?, labels.next()?);
        if !valid_db_identifier(id) {
            return None;
        }
        Some(if second.starts_with("cluster-") {
            Database::Cluster(id.to_owned())
        } else {
            Database::Instance(id.to_owned())
        })
    }

    pub fn id(&self) -> &str {
        match self {
            Database::Instance(id) | Database::Cluster(id) => id,
        }
    }
}

impl std::fmt::Display for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Database::Instance(id) => write!(f, "database {id}"),
            Database::Cluster(id) => write!(f, "cluster {id}"),
        }
    }
}

/// Whether a database in this RDS status can take a login: only `available` (and the states
/// that keep serving: a backup, a modification, storage optimisation, a storage-full instance
/// still accepts a login to change a password). `stopped`, `stopping`, `starting`, `rebooting`,
/// `creating`, `deleting`, `inaccessible-encryption-credentials` ... do not: a rotation waits.
pub fn can_log_in(status: &str) -> bool {
    matches!(
        status,
        "available"
            | "backing-up"
            | "modifying"
            | "storage-optimization"
            | "configuring-enhanced-monitoring"
            | "configuring-log-exports"
            | "maintenance"
            | "upgrading"
            | "storage-full"
    )
}

/// How a secret stands against its rotation rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Rotated within its rule (plus the day of grace).
    OnTime,
    /// The current credentials are older than the rule plus a day.
    Overdue { age_days: i64, every_days: i64 },
    /// Nothing rotates it.
    RotationOff,
}

/// The check's rule: a secret is overdue when its current version is older than its rotation
/// interval plus one day (the rotation window may fall on any hour of its day).
pub fn standing(
    rotation_enabled: Option<bool>,
    every_days: Option<i64>,
    current_since: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> Standing {
    let (Some(true), Some(every)) = (rotation_enabled, every_days.filter(|d| *d > 0)) else {
        return Standing::RotationOff;
    };
    let Some(since) = current_since else {
        return Standing::OnTime;
    };
    let age = now - since;
    if age > chrono::Duration::days(every + 1) {
        Standing::Overdue {
            age_days: age.num_days(),
            every_days: every,
        }
    } else {
        Standing::OnTime
    }
}

/// How long a rotation may run before Caretaker takes it as given up: every step has a 30 s
/// Lambda timeout, and Secrets Manager runs them back to back.
pub const STALLED_AFTER_MINUTES: i64 = 15;

/// Whether a rotation begun at `begun` has stalled (rather than being run right now).
pub fn stalled(begun: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> bool {
    now - begun >= chrono::Duration::minutes(STALLED_AFTER_MINUTES)
}

/// A rotation Secrets Manager began and did not finish: the version holding AWSPENDING when it
/// is not also AWSCURRENT.
pub fn unfinished_rotation(versions: &HashMap<String, Vec<String>>) -> Option<&str> {
    versions
        .iter()
        .find(|(_, stages)| {
            stages.iter().any(|s| s == PENDING) && !stages.iter().any(|s| s == CURRENT)
        })
        .map(|(v, _)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn versions(entries: &[(&str, &[&str])]) -> HashMap<String, Vec<String>> {
        entries
            .iter()
            .map(|(v, s)| (v.to_string(), s.iter().map(|x| x.to_string()).collect()))
            .collect()
    }

    #[test]
    fn unknown_step_is_an_error() {
        let err = Step::parse("deleteSecret").unwrap_err();
        assert!(err.to_string().contains("deleteSecret"));
    }

    #[test]
    fn gate_follows_the_reference() {
        let v = versions(&[
            ("cur", &[CURRENT]),
            ("pen", &[PENDING]),
            ("old", &[PREVIOUS]),
        ]);
        assert_eq!(gate("s", Some(true), &v, "pen").unwrap(), Gate::Proceed);
        assert_eq!(gate("s", None, &v, "cur").unwrap(), Gate::AlreadyCurrent);
        assert!(matches!(
            gate("s", Some(true), &v, "old"),
            Err(RotatorError::NotPending { .. })
        ));
        assert!(matches!(
            gate("s", Some(true), &v, "nope"),
            Err(RotatorError::UnknownVersion { .. })
        ));
        assert!(matches!(
            gate("s", Some(false), &v, "pen"),
            Err(RotatorError::RotationDisabled { .. })
        ));
        assert_eq!(current_version(&v), Some("cur"));
    }

    #[test]
    fn alternating_usernames_toggle_and_respect_63_bytes() {
        assert_eq!(alternate_username("app").unwrap(), "app_clone");
        assert_eq!(alternate_username("app_clone").unwrap(), "app");
        assert_eq!(base_username("app_clone"), "app");
        assert!(alternate_username(&"a".repeat(57)).is_ok());
        assert!(alternate_username(&"a".repeat(58)).is_err());
    }

    #[test]
    fn overdue_is_older_than_the_rule_plus_a_day() {
        use chrono::{Duration, TimeZone, Utc};
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 9, 0, 0).unwrap();
        let ago = |d: i64, h: i64| Some(now - Duration::days(d) - Duration::hours(h));
        assert_eq!(
            standing(Some(true), Some(90), ago(90, 23), now),
            Standing::OnTime
        );
        assert_eq!(
            standing(Some(true), Some(90), ago(91, 1), now),
            Standing::Overdue {
                age_days: 91,
                every_days: 90
            }
        );
        assert_eq!(
            standing(Some(false), Some(90), ago(400, 0), now),
            Standing::RotationOff
        );
        assert_eq!(standing(None, None, ago(1, 0), now), Standing::RotationOff);
        assert_eq!(
            standing(Some(true), Some(0), ago(400, 0), now),
            Standing::RotationOff
        );
        assert_eq!(standing(Some(true), Some(90), None, now), Standing::OnTime);
    }

    #[test]
    fn secret_ids_are_arns_or_names() {
        for ok in [
            "innovate/dev/app-db",
            "arn:aws:secretsmanager:us-east-1:222222222222:secret:innovate/dev/app-db-AbCdEf",
        ] {
            assert!(valid_secret_id(ok), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "arn:aws:s3:::bucket",
            "arn:aws:secretsmanager:us-east-1:2222:secret:x",
            "x;rm",
        ] {
            assert!(!valid_secret_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_name_and_its_arn_are_the_same_secret() {
        let arn = "arn:aws:secretsmanager:us-east-1:222222222222:secret:innovate/dev/app-db-AbCdEf";
        assert!(same_secret(arn, "innovate/dev/app-db"));
        assert!(same_secret("innovate/dev/app-db", arn));
        assert!(same_secret(arn, arn));
        assert!(!same_secret(arn, "innovate/dev/app"));
    }

    #[test]
    fn a_rotation_running_now_is_not_stalled() {
        use chrono::{Duration, Utc};
        let now = Utc::now();
        assert!(!stalled(now - Duration::minutes(14), now));
        assert!(stalled(now - Duration::minutes(15), now));
    }

    #[test]
    fn an_unfinished_rotation_is_pending_without_current() {
        let done = versions(&[("a", &[CURRENT, PENDING]), ("b", &[PREVIOUS])]);
        assert_eq!(unfinished_rotation(&done), None);
        let stuck = versions(&[("a", &[CURRENT]), ("b", &[PENDING])]);
        assert_eq!(unfinished_rotation(&stuck), Some("b"));
    }

    #[test]
    fn only_a_serving_database_takes_a_login() {
        for s in ["available", "backing-up", "modifying"] {
            assert!(can_log_in(s), "{s}");
        }
        for s in [
            "stopped",
            "stopping",
            "starting",
            "rebooting",
            "inaccessible-encryption-credentials",
        ] {
            assert!(!can_log_in(s), "{s}");
        }
    }

    #[test]
    fn quoting_cannot_be_broken_out_of() {
        assert_eq!(quote_ident(r#"we"ird%"#), r#""we""ird%""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
