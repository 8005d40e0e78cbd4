//! The safety guard: a function acts only on resources in the accounts and environments its
//! configuration allows. Anything tagged `env=prod` is refused unless the function is explicitly
//! configured for prod; a resource without an `env` tag is refused too, since nothing proves it
//! is not production.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::config::Common;

/// Resource tags, key → value.
pub type Tags = BTreeMap<String, String>;

/// Tags from an SDK tag list (every service has its own `Tag` type with optional key and value):
/// `tag_map(list.into_iter().map(|t| (t.key, t.value)))`. Pairs missing either half are dropped.
pub fn tag_map(pairs: impl IntoIterator<Item = (Option<String>, Option<String>)>) -> Tags {
    pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k?, v?)))
        .collect()
}

/// A 12-digit AWS account id.
pub fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Why the guard said no. Shown verbatim in reports and notifications.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Refusal(pub String);

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refusal {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    allowed_accounts: BTreeSet<String>,
    allowed_envs: BTreeSet<String>,
    allow_prod: bool,
}

/// `prod`, `production`, `prd` in any case.
pub fn is_prod(env: &str) -> bool {
    matches!(
        env.trim().to_ascii_lowercase().as_str(),
        "prod" | "production" | "prd"
    )
}

impl Guard {
    /// `home_account` is the function's own account: allowed when no account list is configured.
    pub fn new(common: &Common, home_account: Option<&str>) -> Self {
        let mut allowed_accounts = common.allowed_accounts.clone();
        if allowed_accounts.is_empty() {
            allowed_accounts.extend(home_account.map(str::to_owned));
        }
        Guard {
            allowed_accounts,
            allowed_envs: common.allowed_envs.clone(),
            allow_prod: common.allow_prod,
        }
    }

    pub fn allows_prod(&self) -> bool {
        self.allow_prod
    }

    /// May the function act in this account at all?
    pub fn check_account(&self, account: &str) -> Result<(), Refusal> {
        if self.allowed_accounts.contains(account) {
            Ok(())
        } else {
            Err(Refusal(format!(
                "account {account} is not in the allowed accounts ({})",
                join(&self.allowed_accounts)
            )))
        }
    }

    /// May the function act on a resource with these tags, in this account?
    pub fn check(&self, account: &str, tags: &Tags) -> Result<(), Refusal> {
        self.check_account(account)?;
        let env = tags
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("env"))
            .map(|(_, v)| v.as_str());
        match env {
            None => Err(Refusal(
                "no env tag: refusing, since nothing proves it is not production".to_owned(),
            )),
            Some(env) if is_prod(env) && !self.allow_prod => Err(Refusal(format!(
                "tagged env={env}: this function is not configured for production"
            ))),
            Some(env) if is_prod(env) => Ok(()),
            Some(env) if self.allowed_envs.contains(env) => Ok(()),
            Some(env) => Err(Refusal(format!(
                "tagged env={env}, not among the allowed environments ({})",
                join(&self.allowed_envs)
            ))),
        }
    }
}

fn join(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".to_owned()
    } else {
        set.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(env: &str) -> Tags {
        Tags::from([("env".to_owned(), env.to_owned())])
    }

    fn guard(allow_prod: bool) -> Guard {
        let common = Common {
            dry_run: false,
            allowed_accounts: BTreeSet::from(["111111111111".to_owned()]),
            allowed_envs: BTreeSet::from(["dev".to_owned()]),
            allow_prod,
            target_role_name: None,
            alert_topic_arn: None,
            slack_webhook_secret: None,
        };
        Guard::new(&common, Some("999999999999"))
    }

    #[test]
    fn prod_tag_is_refused_unless_configured_for_prod() {
        let err = guard(false)
            .check("111111111111", &tags("prod"))
            .unwrap_err();
        assert!(err.0.contains("env=prod"), "{err}");
        assert!(
            guard(false)
                .check("111111111111", &tags("Production"))
                .is_err()
        );
        assert!(guard(true).check("111111111111", &tags("prod")).is_ok());
    }

    #[test]
    fn dev_in_allowed_account_is_allowed() {
        assert!(guard(false).check("111111111111", &tags("dev")).is_ok());
    }

    #[test]
    fn other_account_is_refused_even_when_dev() {
        let err = guard(false)
            .check("222222222222", &tags("dev"))
            .unwrap_err();
        assert!(err.0.contains("222222222222"));
    }

    #[test]
    fn untagged_resource_is_refused() {
        assert!(guard(false).check("111111111111", &Tags::new()).is_err());
    }

    #[test]
    fn unlisted_env_is_refused() {
        let err = guard(false)
            .check("111111111111", &tags("staging"))
            .unwrap_err();
        assert!(err.0.contains("staging"));
    }

    #[test]
    fn home_account_is_the_default_allow_list() {
        let common = Common {
            dry_run: false,
            allowed_accounts: BTreeSet::new(),
            allowed_envs: BTreeSet::from(["dev".to_owned()]),
            allow_prod: false,
            target_role_name: None,
            alert_topic_arn: None,
            slack_webhook_secret: None,
        };
        let g = Guard::new(&common, Some("999999999999"));
        assert!(g.check_account("999999999999").is_ok());
        assert!(g.check_account("111111111111").is_err());
    }
}
