//! secret-rotator: Secrets Manager rotation of RDS PostgreSQL credentials, single user or
//! alternating users, following the protocol of AWS's reference rotation functions and fixing
//! what their users report (verified TLS, client-side SCRAM, named root causes, timeouts,
//! `SET ROLE`-compatible clones).

//!
//! `event` (the rotation step, the schedules' commands, RotationFailed; checked) → `handler`
//! (the protocol's four steps; `handler::check`: resume and the daily check) → `domain` +
//! `secret` (pure rules, the secret's shapes) → `aws` (Secrets Manager, RDS) + `db` (the SQL) →
//! `messages` (what people read: a failed rotation, an overdue secret, a resumed rotation).

mod aws;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod event;
pub mod handler;
mod messages;
pub mod secret;

/// The function's name: package, binary, SAM `Binary` and `events/` folder.
pub const FUNCTION: &str = env!("CARGO_PKG_NAME");

pub use config::RotatorConfig;
pub use error::RotatorError;

use caretaker_shared::notify::Notifiers;

/// Built once per cold start.
pub struct Deps {
    pub(crate) store: aws::SecretStore,
    pub rds: aws_sdk_rds::Client,
    pub connector: db::Connector,
    pub notifiers: Notifiers,
    pub config: RotatorConfig,
}

impl Deps {
    pub async fn from_env() -> Result<Self, RotatorError> {
        let config = RotatorConfig::from_env(&caretaker_shared::config::ProcessEnv)?;
        let sdk = caretaker_shared::aws::load().await;
        let notifiers = Notifiers::from_config(&config.common, &sdk).await?;
        Ok(Self::new(&sdk, config)?.with_notifiers(notifiers))
    }

    /// Where the daily check and a failed rotation are reported (none by default).
    pub fn with_notifiers(mut self, notifiers: Notifiers) -> Self {
        self.notifiers = notifiers;
        self
    }

    pub fn new(sdk: &aws_config::SdkConfig, config: RotatorConfig) -> Result<Self, RotatorError> {
        let connector = db::Connector::new(
            &config.ca_bundle_pem,
            config.connect_timeout,
            config.query_timeout,
        )
        .map_err(|source| RotatorError::Database {
            what: "loading the CA bundle".into(),
            source,
        })?;
        Ok(Deps {
            store: aws::SecretStore::new(aws_sdk_secretsmanager::Client::new(sdk)),
            rds: aws_sdk_rds::Client::new(sdk),
            connector,
            notifiers: Notifiers::none(),
            config,
        })
    }
}
