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
    fn quoting_cannot_be_broken_out_of() {
        assert_eq!(quote_ident(r#"we"ird%"#), r#""we""ird%""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
    }
}
