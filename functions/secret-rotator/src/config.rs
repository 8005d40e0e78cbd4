//! Typed configuration, read once per cold start. Password settings use the names and defaults
//! of AWS's reference rotation functions so an existing deployment's variables carry over.

use std::time::Duration;

use std::collections::BTreeSet;

use caretaker_shared::config::{Common, ConfigError, Env, Source};

pub use caretaker_shared::pg::RDS_CA_BUNDLE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// One user; its password changes (a brief window where old connections' password is gone).
    SingleUser,
    /// Two users, `user` and `user_clone`; the one not in use gets the new password.
    AlternatingUsers,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub exclude_characters: String,
    pub length: i64,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub require_each_included_type: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            exclude_characters: r#":/@"'\"#.to_owned(),
            length: 32,
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            require_each_included_type: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotatorConfig {
    pub strategy: Strategy,
    pub password: PasswordPolicy,
    /// PEM bundle of trusted CAs.
    pub ca_bundle_pem: String,
    pub connect_timeout: Duration,
    pub query_timeout: Duration,
    /// The secrets this rotator rotates (`MANAGED_SECRETS`, ARNs or names): what the hourly
    /// `resume` and the daily `check` look at. Empty = none (the steps still run for any secret
    /// Secrets Manager calls it for).
    pub managed_secrets: BTreeSet<String>,
    /// Notifications (the alert topic, the webhook), dry run.
    pub common: Common,
}

impl RotatorConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env::new(source);
        let strategy = match env.optional("ROTATION_STRATEGY").as_deref() {
            None | Some("single-user") => Strategy::SingleUser,
            Some("alternating-users") => Strategy::AlternatingUsers,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "ROTATION_STRATEGY".into(),
                    expected: "single-user or alternating-users".into(),
                });
            }
        };
        let d = PasswordPolicy::default();
        let length: i64 =
            env.parse_or("PASSWORD_LENGTH", d.length, "a whole number of characters")?;
        if !(8..=4096).contains(&length) {
            return Err(ConfigError::Invalid {
                name: "PASSWORD_LENGTH".into(),
                expected: "a length from 8 to 4096".into(),
            });
        }
        let password = PasswordPolicy {
            // An explicitly empty EXCLUDE_CHARACTERS means "exclude nothing", as in the reference.
            exclude_characters: source
                .get("EXCLUDE_CHARACTERS")
                .unwrap_or(d.exclude_characters),
            length,
            exclude_numbers: env.flag("EXCLUDE_NUMBERS", false)?,
            exclude_punctuation: env.flag("EXCLUDE_PUNCTUATION", false)?,
            exclude_uppercase: env.flag("EXCLUDE_UPPERCASE", false)?,
            exclude_lowercase: env.flag("EXCLUDE_LOWERCASE", false)?,
            require_each_included_type: env.flag("REQUIRE_EACH_INCLUDED_TYPE", true)?,
        };
        let ca_bundle_pem = match env.optional("RDS_CA_BUNDLE") {
            None => RDS_CA_BUNDLE.to_owned(),
            Some(path) => std::fs::read_to_string(&path).map_err(|_| ConfigError::Invalid {
                name: "RDS_CA_BUNDLE".into(),
                expected: "the path of a readable PEM file".into(),
            })?,
        };
        let secs = |name: &str, default: u64| -> Result<Duration, ConfigError> {
            let v: u64 = env.parse_or(name, default, "whole seconds from 1 to 60")?;
            if !(1..=60).contains(&v) {
                return Err(ConfigError::Invalid {
                    name: name.into(),
                    expected: "whole seconds from 1 to 60".into(),
                });
            }
            Ok(Duration::from_secs(v))
        };
        let managed_secrets = env.list("MANAGED_SECRETS");
        if let Some(bad) = managed_secrets
            .iter()
            .find(|s| !crate::domain::valid_secret_id(s))
        {
            return Err(ConfigError::Invalid {
                name: "MANAGED_SECRETS".into(),
                expected: format!(
                    "secret ARNs or names separated by commas ({} is neither)",
                    caretaker_shared::error::quote(bad)
                ),
            });
        }
        Ok(RotatorConfig {
            managed_secrets,
            common: Common::from_env(&env)?,
            strategy,
            password,
            ca_bundle_pem,
            connect_timeout: secs("DB_CONNECT_TIMEOUT_SECONDS", 5)?,
            query_timeout: secs("DB_QUERY_TIMEOUT_SECONDS", 5)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_reference_function() {
        let vars: &[(&str, &str)] = &[];
        let c = RotatorConfig::from_env(&vars).unwrap();
        assert_eq!(c.strategy, Strategy::SingleUser);
        assert_eq!(c.password.exclude_characters, ":/@\"'\\");
        assert_eq!(c.password.length, 32);
        assert!(c.password.require_each_included_type);
        assert!(
            c.ca_bundle_pem.matches("BEGIN CERTIFICATE").count() > 100,
            "all RDS regions"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            ("ROTATION_STRATEGY", "multi"),
            ("PASSWORD_LENGTH", "4"),
            ("EXCLUDE_NUMBERS", "maybe"),
            ("RDS_CA_BUNDLE", "/nonexistent.pem"),
            ("DB_CONNECT_TIMEOUT_SECONDS", "600"),
            ("MANAGED_SECRETS", "innovate/dev/app-db,a;b"),
        ] {
            let vars: &[(&str, &str)] = &[(name, value)];
            let err = RotatorConfig::from_env(&vars).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
