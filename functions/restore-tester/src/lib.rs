//! restore-tester: restores the production database from its latest snapshot into an isolated,
//! throwaway instance, proves with SQL that the data is there and recent, records RTO/RPO
//! evidence, and deletes everything it created, whatever happens. One Lambda with step actions,
//! orchestrated by the Step Functions machine in `statemachine.asl.json`.

//!
//! `event` (payload → checked step) → `handler` (dispatch, report) → `steps` (one function per
//! step: orchestration) → `domain` + `run` (pure rules, the state and its evidence) → `aws` (every
//! RDS, Secrets Manager and S3 call) + `checks` (the SQL) → `messages` (the notification).

mod aws;
pub mod checks;
pub mod config;
pub mod domain;
pub mod error;
pub mod event;
pub mod handler;
mod messages;
pub mod run;
pub mod steps;

/// The function's name: package, binary, SAM `Binary` and `events/` folder.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

pub use config::RestoreConfig;
pub use error::RestoreError;

use caretaker_shared::notify::Notifiers;
use caretaker_shared::pg::Connector;

/// The state machine definition, as deployed (`DefinitionUri` in template.yaml).
pub const STATE_MACHINE: &str = include_str!("../statemachine.asl.json");

/// Built once per cold start.
pub struct Deps {
    pub rds: aws_sdk_rds::Client,
    pub sm: aws_sdk_secretsmanager::Client,
    pub s3: aws_sdk_s3::Client,
    pub connector: Connector,
    pub notifiers: Notifiers,
    pub config: RestoreConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, RestoreError> {
        let config = RestoreConfig::from_env(&caretaker_shared::config::ProcessEnv)?;
        let sdk = caretaker_shared::aws::load().await;
        let notifiers = Notifiers::from_config(&config.common, &sdk).await?;
        Self::new(&sdk, config, notifiers)
    }

    pub fn new(
        sdk: &aws_config::SdkConfig,
        config: RestoreConfig,
        notifiers: Notifiers,
    ) -> Result<Self, RestoreError> {
        let connector = Connector::new(
            &config.ca_bundle_pem,
            std::time::Duration::from_secs(10),
            std::time::Duration::from_secs(120),
        )
        .map_err(|source| RestoreError::Database {
            what: "loading the CA bundle".into(),
            source,
        })?;
        Ok(Deps {
            rds: aws_sdk_rds::Client::new(sdk),
            sm: aws_sdk_secretsmanager::Client::new(sdk),
            s3: aws_sdk_s3::Client::new(sdk),
            connector,
            notifiers,
            config,
        })
    }

    pub fn guard_account(&self, account: &str) -> Result<(), RestoreError> {
        caretaker_shared::Guard::new(&self.config.common, None)
            .check_account(account)
            .map_err(|r| RestoreError::Refused(r.0))
    }
}
