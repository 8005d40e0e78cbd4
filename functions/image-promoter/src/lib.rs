//! image-promoter: gives an ECR image its production tag only when its vulnerability scan passes
//! the team's policy, within seconds of the scan finishing, and never on doubt.

//!
//! `event` (payload → checked command) → `handler` (orchestration) → `domain` + `policy` (the
//! pure decision) → `aws` (every ECR and SSM call) → `messages` (what people read).

pub mod aws;
pub mod config;
pub mod domain;
pub mod error;
pub mod event;
pub mod handler;
mod messages;
pub mod policy;

/// The function's name: package, binary, SAM `Binary` and `events/` folder.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

pub use config::PromoterConfig;
pub use error::PromoterError;

use caretaker_shared::notify::Notifiers;

/// Built once per cold start.
pub struct Deps {
    pub ecr: aws::Ecr,
    pub ssm: aws_sdk_ssm::Client,
    pub notifiers: Notifiers,
    pub config: PromoterConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, PromoterError> {
        let config = PromoterConfig::from_env(&caretaker_shared::config::ProcessEnv)?;
        let sdk = caretaker_shared::aws::load().await;
        let notifiers = Notifiers::from_config(&config.common, &sdk).await?;
        Ok(Self::new(&sdk, config, notifiers))
    }

    pub fn new(sdk: &aws_config::SdkConfig, config: PromoterConfig, notifiers: Notifiers) -> Self {
        Deps {
            ecr: aws::Ecr::new(aws_sdk_ecr::Client::new(sdk)),
            ssm: aws_sdk_ssm::Client::new(sdk),
            notifiers,
            config,
        }
    }
}
