//! dev-scheduler: shuts the dev environment down at night and at weekends and starts it in the
//! morning, exactly as it was.
//!
//! `event` (payload → request) → `handler` (orchestration) → `domain` + `schedule` + `ready`
//! (pure rules: decisions, the schedule syntax, what workloads wait for)
//! → `rds`, `eks`, `kubernetes`, `state` (every call to RDS, EKS, the clusters' Kubernetes APIs
//! and DynamoDB; the EKS token in `eks_token`) → `messages` (what the team is told).

pub mod accounts;
mod billing;
pub mod config;
pub mod domain;
mod eks;
pub mod eks_token;
pub mod error;
pub mod event;
pub mod handler;
mod kubernetes;
pub mod ledger;
pub mod prices;
pub use kubernetes::KubeSettings;
mod messages;
mod org;
mod rds;
pub mod ready;
pub mod report_size;
pub mod schedule;
mod state;

/// The function's name: package, binary, SAM `Binary` and `events/` folder.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

pub use config::SchedulerConfig;
pub use error::SchedulerError;

use caretaker_shared::aws::Accounts;
use caretaker_shared::notify::Notifiers;

/// Built once per cold start.
pub struct Deps {
    pub accounts: Accounts,
    pub config: SchedulerConfig,
    /// Told about failures, corrected drift and budget shutdowns; never about a routine night.
    pub notifiers: Notifiers,
    /// Each account's memory between runs, when `STATE_TABLE` is set.
    state: Option<state::State>,
    /// The Price List API (us-east-1), for the savings ledger.
    pricing: aws_sdk_pricing::Client,
    /// AWS Organizations (its endpoint is global), for `DEV_ACCOUNTS_OU`.
    organizations: aws_sdk_organizations::Client,
}

impl Deps {
    pub async fn from_env() -> Result<Self, SchedulerError> {
        let config = SchedulerConfig::from_env(&caretaker_shared::config::ProcessEnv)?;
        let sdk = caretaker_shared::aws::load().await;
        let home = caretaker_shared::aws::account_id(&sdk).await?;
        let notifiers = Notifiers::from_config(&config.common, &sdk).await?;
        Ok(Self::new(sdk, home, config).with_notifiers(notifiers))
    }

    pub fn with_notifiers(mut self, notifiers: Notifiers) -> Self {
        self.notifiers = notifiers;
        self
    }

    /// Another Price List client (a test's, pointed at an endpoint that does not answer).
    pub fn with_pricing(mut self, pricing: aws_sdk_pricing::Client) -> Self {
        self.pricing = pricing;
        self
    }

    pub fn new(sdk: aws_config::SdkConfig, home_account: String, config: SchedulerConfig) -> Self {
        let state = config.state_table.clone().map(|table| state::State {
            client: aws_sdk_dynamodb::Client::new(&sdk),
            table,
        });
        let pricing = billing::pricing_client(&sdk);
        let organizations = aws_sdk_organizations::Client::new(&sdk);
        let accounts = Accounts::new(
            sdk,
            home_account,
            config.common.target_role_name.clone(),
            FUNCTION,
        );
        Deps {
            accounts,
            config,
            notifiers: Notifiers::none(),
            state,
            pricing,
            organizations,
        }
    }
}
