//! budget-guard: budgets as code in every account, one readable alert per threshold and period,
//! AWS Budgets' and Cost Anomaly Detection's messages made readable, and a dev shutdown request
//! when dev overspends (never for prod).

pub mod adapters;
pub mod config;
pub mod domain;
pub mod error;
pub mod handler;

pub use config::GuardConfig;
pub use error::GuardError;

use caretaker_shared::aws::Accounts;
use caretaker_shared::notify::Notifiers;

/// Built once per cold start.
pub struct Deps {
    pub accounts: Accounts,
    pub ce: aws_sdk_costexplorer::Client,
    pub ledger: adapters::Ledger,
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
            ledger: adapters::Ledger {
                client: aws_sdk_dynamodb::Client::new(&sdk),
                table: config.state_table.clone(),
            },
            events: aws_sdk_eventbridge::Client::new(&sdk),
            accounts: Accounts::new(
                sdk,
                home_account,
                config.common.target_role_name.clone(),
                "budget-guard",
            ),
            notifiers,
            config,
        }
    }
}
