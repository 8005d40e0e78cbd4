//! Typed configuration, read once per cold start.

use caretaker_shared::config::{Common, ConfigError, Env, Source};

use crate::domain::DesiredBudget;

#[derive(Debug, Clone)]
pub struct GuardConfig {
    pub common: Common,
    /// Budgets as code (`BUDGETS`, a JSON list; or `BUDGETS_FILE`).
    pub budgets: Vec<DesiredBudget>,
    /// DynamoDB table remembering which alerts were sent (`STATE_TABLE`).
    pub state_table: String,
    /// Topic the managed budgets notify, which budget-guard itself subscribes to (`BUDGET_NOTICE_TOPIC_ARN`).
    pub notice_topic: Option<String>,
    /// EventBridge bus for dev shutdown requests (`EVENT_BUS`, default `default`).
    pub event_bus: String,
    /// dev-scheduler's memory table (`SCHEDULER_STATE_TABLE`), where each dev account's savings
    /// summary is read for the digest; unset = no savings line.
    pub scheduler_table: Option<String>,
}

impl GuardConfig {
    pub fn from_env(source: &dyn Source) -> Result<Self, ConfigError> {
        let env = Env::new(source);
        let text = match (env.optional("BUDGETS"), env.optional("BUDGETS_FILE")) {
            (Some(t), _) => t,
            (None, Some(path)) => {
                std::fs::read_to_string(&path).map_err(|_| ConfigError::Invalid {
                    name: "BUDGETS_FILE".into(),
                    expected: "a readable JSON file".into(),
                })?
            }
            (None, None) => "[]".into(),
        };
        let budgets: Vec<DesiredBudget> =
            serde_json::from_str(&text).map_err(|_| ConfigError::Invalid {
                name: "BUDGETS".into(),
                expected: "a JSON list of {account, env, name, limit, tags, shutdownAt?}".into(),
            })?;
        for (i, b) in budgets.iter().enumerate() {
            // One account holds them all (the management account): a name names one budget.
            if budgets[..i].iter().any(|o| o.name == b.name) {
                return Err(ConfigError::Invalid {
                    name: "BUDGETS".into(),
                    expected: format!("unique budget names ({} is given twice)", b.name),
                });
            }
            if b.account.len() != 12
                || !b.account.bytes().all(|c| c.is_ascii_digit())
                || b.limit <= rust_decimal::Decimal::ZERO
            {
                return Err(ConfigError::Invalid {
                    name: "BUDGETS".into(),
                    expected: format!("budget {}: a 12-digit account and a positive limit", b.name),
                });
            }
        }
        Ok(GuardConfig {
            common: Common::from_env(&env)?,
            budgets,
            state_table: env.required("STATE_TABLE")?,
            notice_topic: env.optional("BUDGET_NOTICE_TOPIC_ARN"),
            event_bus: env
                .optional("EVENT_BUS")
                .unwrap_or_else(|| "default".into()),
            scheduler_table: env.optional("SCHEDULER_STATE_TABLE"),
        })
    }
}
