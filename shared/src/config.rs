//! Typed configuration from environment variables. Every error names the variable; values
//! are never echoed (a variable may hold something sensitive), only what was expected.

use std::collections::BTreeSet;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {name} is required but not set")]
    Missing { name: String },
    #[error("environment variable {name} is malformed: expected {expected}")]
    Invalid { name: String, expected: String },
}

/// A source of variables: the process environment, or a map in tests.
pub trait Source {
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

impl Source for std::collections::HashMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        std::collections::HashMap::get(self, name).cloned()
    }
}

impl Source for &[(&str, &str)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// Reads typed values from a [`Source`]; an empty value counts as unset.
pub struct Env<'a> {
    source: &'a dyn Source,
}

impl<'a> Env<'a> {
    pub fn new(source: &'a dyn Source) -> Self {
        Env { source }
    }

    pub fn optional(&self, name: &str) -> Option<String> {
        self.source
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &str) -> Result<String, ConfigError> {
        self.optional(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
        })
    }

    /// Parse with `FromStr`; `expected` describes the accepted form in the error.
    pub fn parse_or<T: FromStr>(
        &self,
        name: &str,
        default: T,
        expected: &str,
    ) -> Result<T, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError::Invalid {
                name: name.to_owned(),
                expected: expected.to_owned(),
            }),
        }
    }

    /// A number within `range` (`unit` names what it counts, for the error: "a number of minutes
    /// from 1 to 720"); `default` when unset. Every bounded numeric setting goes through here.
    pub fn bounded<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        unit: &str,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let invalid = || ConfigError::Invalid {
            name: name.to_owned(),
            expected: format!(
                "a number of {unit} from {} to {}",
                range.start(),
                range.end()
            ),
        };
        match self.optional(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<T>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(invalid),
        }
    }

    /// `true/false`, `1/0`, `yes/no`, `on/off`, any case.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.optional(name) {
            None => Ok(default),
            Some(v) => parse_bool(&v).ok_or_else(|| ConfigError::Invalid {
                name: name.to_owned(),
                expected: "true or false".to_owned(),
            }),
        }
    }

    /// A comma- or space-separated list; empty when unset.
    pub fn list(&self, name: &str) -> BTreeSet<String> {
        self.optional(name)
            .map(|v| {
                v.split([',', ' '])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Some(true),
        "false" | "0" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Settings every function shares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Common {
    /// Plan and report, make no mutating call (`DRY_RUN`, default false).
    pub dry_run: bool,
    /// Accounts the function may act in (`ALLOWED_ACCOUNTS`); empty = only its own account.
    pub allowed_accounts: BTreeSet<String>,
    /// Values of the `env` tag it may act on (`ALLOWED_ENVS`, default `dev`).
    pub allowed_envs: BTreeSet<String>,
    /// Explicit opt-in to act on `env=prod` (`ALLOW_PROD`, default false).
    pub allow_prod: bool,
    /// Role assumed in each target account (`TARGET_ROLE_NAME`); unset = act with own credentials.
    pub target_role_name: Option<String>,
    /// SNS topic for notifications (`ALERT_TOPIC_ARN`).
    pub alert_topic_arn: Option<String>,
    /// Secret holding the Slack-compatible webhook URL (`SLACK_WEBHOOK_SECRET_ARN`).
    pub slack_webhook_secret: Option<String>,
}

impl Common {
    pub fn from_env(env: &Env<'_>) -> Result<Self, ConfigError> {
        let allowed_envs = match env.list("ALLOWED_ENVS") {
            s if s.is_empty() => BTreeSet::from(["dev".to_owned()]),
            s => s,
        };
        let allowed_accounts = env.list("ALLOWED_ACCOUNTS");
        if allowed_accounts
            .iter()
            .any(|a| !crate::guard::is_account_id(a))
        {
            return Err(ConfigError::Invalid {
                name: "ALLOWED_ACCOUNTS".to_owned(),
                expected: "12-digit AWS account ids separated by commas".to_owned(),
            });
        }
        Ok(Common {
            dry_run: env.flag("DRY_RUN", false)?,
            allowed_accounts,
            allowed_envs,
            allow_prod: env.flag("ALLOW_PROD", false)?,
            target_role_name: env.optional("TARGET_ROLE_NAME"),
            alert_topic_arn: env.optional("ALERT_TOPIC_ARN"),
            slack_webhook_secret: env.optional("SLACK_WEBHOOK_SECRET_ARN"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_variable_is_named() {
        let vars: &[(&str, &str)] = &[];
        let err = Env::new(&vars).required("SECRET_ARN").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable SECRET_ARN is required but not set"
        );
    }

    #[test]
    fn malformed_flag_is_named_without_echoing_the_value() {
        let vars: &[(&str, &str)] = &[("DRY_RUN", "hunter2")];
        let err = Common::from_env(&Env::new(&vars)).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("DRY_RUN") && msg.contains("true or false"));
        assert!(!msg.contains("hunter2"));
    }

    #[test]
    fn defaults_are_safe() {
        let vars: &[(&str, &str)] = &[];
        let c = Common::from_env(&Env::new(&vars)).unwrap();
        assert!(!c.dry_run && !c.allow_prod);
        assert_eq!(c.allowed_envs, BTreeSet::from(["dev".to_owned()]));
    }

    #[test]
    fn account_list_must_be_account_ids() {
        let vars: &[(&str, &str)] = &[("ALLOWED_ACCOUNTS", "111111111111, prod")];
        let err = Common::from_env(&Env::new(&vars)).unwrap_err();
        assert!(err.to_string().contains("ALLOWED_ACCOUNTS"));
        let vars: &[(&str, &str)] = &[("ALLOWED_ACCOUNTS", "111111111111, 222222222222")];
        let c = Common::from_env(&Env::new(&vars)).unwrap();
        assert_eq!(c.allowed_accounts.len(), 2);
    }

    #[test]
    fn bounded_numbers_name_their_range() {
        let vars: &[(&str, &str)] = &[("N", "65"), ("M", "8"), ("X", "eight")];
        let env = Env::new(&vars);
        let err = env.bounded("N", 8usize, 1..=64, "requests").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable N is malformed: expected a number of requests from 1 to 64"
        );
        assert_eq!(env.bounded("M", 1usize, 1..=64, "requests").unwrap(), 8);
        assert_eq!(env.bounded("UNSET", 3usize, 1..=64, "requests").unwrap(), 3);
        assert!(env.bounded("X", 3usize, 1..=64, "requests").is_err());
    }

    #[test]
    fn numbers_parse_with_default() {
        let vars: &[(&str, &str)] = &[("PASSWORD_LENGTH", "40"), ("BAD", "x")];
        let env = Env::new(&vars);
        assert_eq!(
            env.parse_or("PASSWORD_LENGTH", 32u32, "a number").unwrap(),
            40
        );
        assert_eq!(env.parse_or("UNSET", 32u32, "a number").unwrap(), 32);
        assert!(env.parse_or("BAD", 1u32, "a number").is_err());
    }
}
