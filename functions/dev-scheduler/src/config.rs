//! Typed configuration, read once per cold start.

use std::collections::BTreeMap;

use caretaker_shared::config::{Common, ConfigError, Env, Source};
use chrono::NaiveDate;

use crate::domain::Policy;
use crate::kubernetes::KubeSettings;
use crate::schedule::Schedule;

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    pub common: Common,
    pub policy: Policy,
    pub kube: KubeSettings,
    /// RDS stops/starts and node group updates in flight at once (`AWS_CONCURRENCY`, 1–64,
    /// default 8); the order between layers is kept.
    pub aws_concurrency: usize,
    /// The DynamoDB table of each account's memory (`STATE_TABLE`): last run, pending changes,
    /// hold. Without it every change is routine unless its transition is older than one interval.
    pub state_table: Option<String>,
    /// How often the periodic run comes (`RUN_EVERY_MINUTES`, 1–1440, default 15): the last run
    /// assumed when memory has none.
    pub interval: chrono::TimeDelta,
    /// The accounts to act in, from AWS Organizations (`DEV_ACCOUNTS_OU`: OU or root ids),
    /// beside the listed ones; child OUs included, `ACTIVE` accounts only.
    pub org: crate::accounts::OrgSource,
    /// Accounts never acted in, whatever lists them (`EXCLUDED_ACCOUNTS`).
    pub excluded_accounts: std::collections::BTreeSet<String>,
    /// Accounts processed at once (`ACCOUNT_CONCURRENCY`, 1–64, default 16).
    pub account_concurrency: usize,
    /// How long one account may take before it is reported as timed out and the run goes on
    /// without it (`ACCOUNT_TIMEOUT_SECONDS`, 5–900, default 60).
    pub account_timeout: std::time::Duration,
}

impl SchedulerConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env::new(source);
        let invalid = |name: &str, expected: &str| ConfigError::Invalid {
            name: name.into(),
            expected: expected.into(),
        };
        // SCHEDULES: {"office-hours": "Mon-Fri 07:00-20:00 America/New_York", ...}
        let named: BTreeMap<String, String> = match env.optional("SCHEDULES") {
            None => BTreeMap::from([(
                "office-hours".to_owned(),
                "Mon-Fri 07:00-20:00 UTC".to_owned(),
            )]),
            Some(t) => serde_json::from_str(&t)
                .map_err(|_| invalid("SCHEDULES", "a JSON object of name → schedule"))?,
        };
        let mut parsed = BTreeMap::new();
        for (name, text) in named {
            let s: Schedule = text.parse().map_err(|_| {
                invalid(
                    "SCHEDULES",
                    "schedules like \"Mon-Fri 07:00-20:00 Europe/Berlin\"",
                )
            })?;
            parsed.insert(name, s);
        }
        let default = match env.optional("DEFAULT_SCHEDULE") {
            None => None,
            Some(name) => Some(parsed.get(&name).cloned().ok_or_else(|| {
                invalid("DEFAULT_SCHEDULE", "the name of a schedule in SCHEDULES")
            })?),
        };
        let mut holidays = Vec::new();
        for d in env.list("HOLIDAYS") {
            holidays.push(
                NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                    .map_err(|_| invalid("HOLIDAYS", "dates YYYY-MM-DD separated by commas"))?,
            );
        }
        let concurrency = env.bounded("KUBE_CONCURRENCY", 8usize, 1..=64, "requests")?;
        let kube = KubeSettings {
            endpoint_override: env.optional("KUBE_ENDPOINT_OVERRIDE"),
            ca_file: env.optional("KUBE_CA_FILE").map(Into::into),
            concurrency,
            label_selector: env
                .optional("KUBE_LABEL_SELECTOR")
                .unwrap_or_else(|| "caretaker/exclude!=true".to_owned()),
        };
        let minutes = env.bounded("RUN_EVERY_MINUTES", 15i64, 1..=1440, "minutes")?;
        let ous: Vec<String> = env.list("DEV_ACCOUNTS_OU").into_iter().collect();
        if let Some(bad) = ous.iter().find(|o| !crate::accounts::is_parent_id(o)) {
            return Err(invalid(
                "DEV_ACCOUNTS_OU",
                &format!(
                    "OU ids (ou-xxxx-xxxxxxxx) or a root id (r-xxxx) separated by commas; {} is neither",
                    caretaker_shared::error::quote(bad)
                ),
            ));
        }
        let excluded_accounts = env.list("EXCLUDED_ACCOUNTS");
        if excluded_accounts
            .iter()
            .any(|a| !caretaker_shared::guard::is_account_id(a))
        {
            return Err(invalid(
                "EXCLUDED_ACCOUNTS",
                "12-digit AWS account ids separated by commas",
            ));
        }
        Ok(SchedulerConfig {
            org: crate::accounts::OrgSource {
                ous,
                cache: chrono::TimeDelta::minutes(env.bounded(
                    "ORG_CACHE_MINUTES",
                    60i64,
                    1..=1440,
                    "minutes",
                )?),
            },
            excluded_accounts,
            account_concurrency: env.bounded("ACCOUNT_CONCURRENCY", 16usize, 1..=64, "accounts")?,
            account_timeout: std::time::Duration::from_secs(env.bounded(
                "ACCOUNT_TIMEOUT_SECONDS",
                60u64,
                5..=900,
                "seconds",
            )?),
            state_table: env.optional("STATE_TABLE"),
            interval: chrono::TimeDelta::minutes(minutes),
            aws_concurrency: env.bounded("AWS_CONCURRENCY", 8usize, 1..=64, "requests")?,
            kube,
            common: Common::from_env(&env)?,
            policy: Policy {
                named: parsed,
                default,
                holidays,
                warm_up: chrono::TimeDelta::minutes(env.bounded(
                    "WARM_UP_MINUTES",
                    15i64,
                    0..=120,
                    "minutes",
                )?),
                max_keep_up: chrono::TimeDelta::days(env.bounded(
                    "MAX_KEEP_UP_DAYS",
                    14i64,
                    0..=366,
                    "days",
                )?),
            },
        })
    }
}
