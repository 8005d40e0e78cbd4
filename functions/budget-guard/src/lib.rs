//! budget-guard: budgets as code for every account (kept in the management account, as AWS
//! Organizations does, so each notifies a topic of its own account), one readable alert per threshold and period,
//! AWS Budgets' and Cost Anomaly Detection's messages made readable, and a dev shutdown request
//! when dev overspends (never for prod).

//!
//! `event` (payload → command) → `handler` (orchestration) → `domain` (pure rules, money) →
//! `aws` (every AWS call) → `messages` (what people read).

mod aws;
pub mod config;
pub mod domain;
pub mod error;
pub mod event;
pub mod handler;
mod messages;

/// The function's name: package, binary, SAM `Binary` and `events/` folder.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

pub use config::GuardConfig;
pub use error::GuardError;

use caretaker_shared::aws::Accounts;
use caretaker_shared::notify::Notifiers;

/// Built once per cold start.
pub struct Deps {
    pub accounts: Accounts,
    /// Budgets of the management account, where every managed budget lives.
    pub budgets: aws_sdk_budgets::Client,
    pub ce: aws_sdk_costexplorer::Client,
    pub(crate) ledger: aws::Ledger,
    pub events: aws_sdk_eventbridge::Client,
    pub notifiers: Notifiers,
    pub config: GuardConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, GuardError> {
        let config = GuardConfig::from_env(&caretaker_shared::config::ProcessEnv)?;
        let sdk = caretaker_shared::aws::load().await;
        let home = caretaker_shared::aws::account_id(&sdk).await?;
        let notifiers = Notifiers::from_config(&config.common, &sdk).await?;
        Ok(Self::new(sdk, home, config, notifiers))
    }

    pub fn new(
        sdk: aws_config::SdkConfig,
        home_account: String,
        config: GuardConfig,
        notifiers: Notifiers,
    ) -> Self {
        Deps {
            ce: aws_sdk_costexplorer::Client::new(&sdk),
            budgets: aws_sdk_budgets::Client::new(&sdk),
            ledger: aws::Ledger {
                client: aws_sdk_dynamodb::Client::new(&sdk),
                table: config.state_table.clone(),
            },
            events: aws_sdk_eventbridge::Client::new(&sdk),
            accounts: Accounts::new(
                sdk,
                home_account,
                config.common.target_role_name.clone(),
                FUNCTION,
            ),
            notifiers,
            config,
        }
    }
}
