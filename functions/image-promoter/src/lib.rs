//! image-promoter: gives an ECR image its production tag only when its vulnerability scan passes
//! the team's policy, within seconds of the scan finishing, and never on doubt.

pub mod config;
pub mod domain;
pub mod ecr;
pub mod error;
pub mod event;
pub mod handler;
pub mod policy;

pub use config::PromoterConfig;
pub use error::PromoterError;

use caretaker_shared::notify::Notifiers;

/// Built once per cold start.
pub struct Deps {
    pub ecr: ecr::Ecr,
    pub ssm: aws_sdk_ssm::Client,
    pub notifiers: Notifiers,
    pub config: PromoterConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, PromoterError> {
        let config = PromoterConfig::from_env(&caretaker_shared::config::ProcessEnv)?;
        let sdk = caretaker_shared::aws::load().await;
        let notifiers = Notifiers::from_config(&config.common, &sdk)
            .await
            .map_err(|e| PromoterError::Policy(caretaker_shared::error::chain(&e)))?;
        Ok(Self::new(&sdk, config, notifiers))
    }

    pub fn new(sdk: &aws_config::SdkConfig, config: PromoterConfig, notifiers: Notifiers) -> Self {
        Deps {
            ecr: ecr::Ecr::new(aws_sdk_ecr::Client::new(sdk)),
            ssm: aws_sdk_ssm::Client::new(sdk),
            notifiers,
            config,
        }
    }
}
