//! Typed configuration, read once per cold start.

use std::collections::BTreeSet;

use caretaker_shared::config::{Common, ConfigError, Env, Source};
use regex::Regex;

use crate::domain::TagRule;

#[derive(Debug, Clone)]
pub struct PromoterConfig {
    pub common: Common,
    pub tags: TagRule,
    /// Repositories in scope (`REPOSITORIES`); empty = every repository the role can see.
    pub repositories: BTreeSet<String>,
    /// SSM parameter holding the policy JSON (`POLICY_PARAMETER`), read per invocation so a
    /// policy change applies at once; `POLICY_FILE` for a file; else the bundled default.
    pub policy_parameter: Option<String>,
    pub policy_file: Option<String>,
    /// Most images one sweep decides (`SWEEP_LIMIT`, default 200).
    pub sweep_limit: usize,
}

impl PromoterConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env::new(source);
        let pattern = env
            .optional("SOURCE_TAG_PATTERN")
            .unwrap_or_else(|| TagRule::default_source().to_owned());
        let source_re = Regex::new(&pattern).map_err(|_| ConfigError::Invalid {
            name: "SOURCE_TAG_PATTERN".into(),
            expected: "a regular expression".into(),
        })?;
        let prefix = env
            .optional("TARGET_TAG_PREFIX")
            .unwrap_or_else(|| "prod-".into());
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ConfigError::Invalid {
                name: "TARGET_TAG_PREFIX".into(),
                expected: "letters, digits, '-', '_' or '.'".into(),
            });
        }
        Ok(PromoterConfig {
            common: Common::from_env(&env)?,
            tags: TagRule {
                source: source_re,
                prefix,
            },
            repositories: env.list("REPOSITORIES"),
            policy_parameter: env.optional("POLICY_PARAMETER"),
            policy_file: env.optional("POLICY_FILE"),
            sweep_limit: env.parse_or("SWEEP_LIMIT", 200usize, "a whole number")?,
        })
    }
}
