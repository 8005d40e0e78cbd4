//! dev-scheduler: shuts the dev environment down at night and at weekends and starts it in the
//! morning, exactly as it was: Kubernetes workloads on EKS (`kubernetes`), EKS managed node groups
//! and RDS instances and Aurora clusters (`handler`), decided by pure functions (`domain`,
//! `schedule`).

pub mod config;
pub mod domain;
pub mod eks_token;
pub mod error;
pub mod handler;
pub mod kubernetes;
pub mod schedule;

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

    pub fn new(sdk: aws_config::SdkConfig, home_account: String, config: SchedulerConfig) -> Self {
        let accounts = Accounts::new(
            sdk,
            home_account,
            config.common.target_role_name.clone(),
            "dev-scheduler",
        );
        Deps {
            accounts,
            config,
            notifiers: Notifiers::none(),
        }
    }
}
